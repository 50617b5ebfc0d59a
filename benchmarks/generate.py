"""Generate national-scale scenarios on the real county table (deterministic, seeded).

``python benchmarks/generate.py 200000 [--seed 0] [--out benchmarks/generated]`` writes
``<out>/national_<n>/`` with ``regions.csv.gz``, ``projects.csv.gz`` and ``scenario.toml``.
Generated data is not committed (``benchmarks/generated/`` should be git-ignored).

The rules are those of ``scenarios/eleventh_plan_national.toml`` scaled by ``f = n / 5161`` (the
national scenario's candidate count): budgets, per-province local capacity, counts per type and
the indicator baselines and denominators all grow with ``f``, so the share of candidates that can
be funded (about 2/3 of the cost) stays the same and choosing still matters at every size. On top
of the national scenario it adds zone shares of central money and a second soft indicator at zone
scope, as issue 4 asks.

Candidates per type keep the national mix (581 centres : 4,400 stations : 180 networks) and are
sited in counties in proportion to street offices (centres) or urban communities (stations,
networks); costs follow the unit costs in docs/data.md (zone construction rates, equipment,
lognormal noise clipped to [0.75, 1.25]).

``--variant`` (or ``generate(..., variant=...)``) writes ``scenario_<variant>.toml`` next to the base
scenario, on the same tables, with rules that make the model's rows grow with n (issue 15):

- ``county_pooling``: local money capacity per county (``capacity = { ..., by = "region" }``);
- ``phasing``: a five-year plan, ``[phasing]`` 2006–2010, two-year construction;
- ``hard_targets``: both indicators per province and hard (street-centre coverage at least 90%, IT
  coverage at least 30%: every province can reach them), and count ranges of ±0.5% around the middle of
  the base ranges;
- ``project_caps``: central money capped per project below every candidate's cost (``CENTRAL_CAPS``).
"""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ROOT / "scenarios" / "data" / "regions.csv.gz"
BASE_CANDIDATES = 5161  # rows of eleventh_plan_national_projects.csv.gz
MIX = {"centre": 581, "station": 4400, "network": 180}
RATE = {"east": 0.13, "central": 0.115, "west": 0.105}  # 万元 per m², urban construction
DEFAULT_OUT = ROOT / "benchmarks" / "generated"
VARIANTS = ("county_pooling", "phasing", "hard_targets", "project_caps")
#: 万元 of central money per project: below the cheapest generated candidate of each type (centre 111, station
#: 29.3, network 103.1 at 20,000), so every candidate's cap is below its cost.
CENTRAL_CAPS = {"centre": 60.0, "station": 15.0, "network": 50.0}


def _write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(buffer.getvalue().encode("utf-8"))


def scaled_regions(f: float) -> pd.DataFrame:
    regions = pd.read_csv(REGIONS, dtype={"region_id": str})
    regions["local_capacity_x"] = (regions["local_capacity"] * f).round(1)
    regions["street_offices_x"] = regions["street_offices"] * f
    regions["centres_2005_x"] = regions["centres_2005"] * f
    regions["urban_communities_x"] = regions["urban_communities"] * f
    regions["it_communities_2005_x"] = regions["it_communities_2005"] * f
    return regions


def projects(n: int, regions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    counts = {t: int(n * c / BASE_CANDIDATES) for t, c in MIX.items()}
    counts["station"] += n - sum(counts.values())
    frames = []
    for type_key, count in counts.items():
        weight = (regions["street_offices"] if type_key == "centre" else regions["urban_communities"]).to_numpy(dtype=float)
        region = rng.choice(len(regions), size=count, p=weight / weight.sum())
        zone = regions["zone"].to_numpy()[region]
        rate = np.vectorize(RATE.get)(zone)
        noise = np.clip(rng.lognormal(0.0, 0.10, count), 0.75, 1.25)
        urban_pop = regions["urban_population"].to_numpy(dtype=float)[region]
        per_street = urban_pop / np.maximum(regions["street_offices"].to_numpy(dtype=float)[region], 1)
        per_community = urban_pop / np.maximum(regions["urban_communities"].to_numpy(dtype=float)[region], 1)
        if type_key == "centre":
            area = rng.integers(1000, 1301, count)
            cost = (rate * area + 35.0) * noise
            served = per_street * rng.uniform(0.6, 1.4, count)
            adds = dict(adds_centre=1, adds_facility=1, adds_it_community=0)
        elif type_key == "station":
            area = rng.integers(300, 361, count)
            cost = (rate * area + 6.0) * noise
            served = per_community * rng.uniform(0.6, 1.4, count)
            adds = dict(adds_centre=0, adds_facility=1, adds_it_community=0)
        else:
            area = np.zeros(count, dtype=int)
            links = rng.integers(75, 401, count)
            cost = (80.0 + 0.5 * links) * rate / 0.115 * noise
            served = links * per_community * rng.uniform(0.3, 0.7, count)
            adds = dict(adds_centre=0, adds_facility=0, adds_it_community=links)
        frames.append(pd.DataFrame({
            "region": region, "type": type_key, "cost": np.round(cost, 1), "area_m2": area,
            "population_served": np.round(served).astype(np.int64), **adds,
            "priority": np.clip(regions["need_score"].to_numpy()[region] + rng.normal(0, 5, count), 0, 100).round().astype(int),
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    prefix = frame["type"].map({"centre": "C", "station": "S", "network": "N"})
    frame.insert(0, "project_id", prefix + "-" + pd.Series(np.arange(len(frame)), dtype=str).str.zfill(7))
    names = regions["name"].to_numpy(dtype=object)[frame["region"].to_numpy()]
    label = frame["type"].map({"centre": "社区服务中心", "station": "社区服务站", "network": "社区服务信息网络"}).to_numpy(dtype=object)
    frame.insert(1, "name", names + label)
    frame.insert(2, "region_id", regions["region_id"].to_numpy(dtype=object)[frame.pop("region").to_numpy()])
    return frame


def scenario_toml(n: int, f: float, time_limit: float, mip_rel_gap: float) -> str:
    def wan(yi: float) -> str:
        return f'"{yi * f * 10000:.1f}万"'

    def scaled(count: int) -> int:
        return int(round(count * f))

    return f"""\
name = "national_{n}"
description = "Benchmark: eleventh_plan_national rules scaled to {n:,} candidates (f = {f:.4f})"

[data]
regions = "regions.csv.gz"
projects = "projects.csv.gz"
money_unit = "万元"

[types.centre]
label = "街道社区服务中心"
welfare = true
[types.station]
label = "社区服务站"
welfare = true
[types.network]
label = "城市社区服务信息网络"
welfare = false

[sources.central]
label = "中央专项资金"
budget = {wan(6.0)}
types = ["centre", "station", "network"]
max_share_of_cost = 0.5

[sources.lottery]
label = "民政部本级福利彩票公益金"
budget = {wan(1.3)}
welfare_only = true
types = ["centre", "station", "network"]
max_share_of_cost = 0.3

[sources.local]
label = "地方配套资金"
budget = {wan(14.5)}
types = ["centre", "station", "network"]
capacity = {{ column = "local_capacity_x", by = "province" }}
matching = {{ ratio = {{ east = 2.0, central = 1.0, west = 0.5 }}, of = ["central", "lottery"] }}

[targets.counts.centres]
type = "centre"
min = {scaled(450)}
max = {scaled(550)}

[targets.counts.stations]
type = "station"
min = {scaled(2200)}
max = {scaled(2600)}

[targets.counts.networks]
type = "network"
min = {scaled(90)}
max = {scaled(110)}

[targets.indicators.street_centre_coverage]
label = "街道社区服务中心覆盖率"
baseline = "centres_2005_x"
contribution = "adds_centre"
denominator = "street_offices_x"
scope = "national"
scale = 0.01
target = 99
penalty = {5e4 * 9060 * f / 100:.1f}

[targets.indicators.it_coverage]
label = "社区信息化覆盖率"
baseline = "it_communities_2005_x"
contribution = "adds_it_community"
denominator = "urban_communities_x"
scope = "zone"
scale = 0.01
target = 50
penalty = {2e3 * 33000 * f / 100:.1f}

[balance.shares.central_west]
source = "central"
zone = "west"
min = 0.35

[balance.shares.central_east]
source = "central"
zone = "east"
max = 0.30

[objective]
sense = "max_benefit"
benefit = {{ population_served = 1.0 }}

[solver]
name = "highs"
time_limit = {time_limit:g}
mip_rel_gap = {mip_rel_gap:g}
"""


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old  # the base scenario changed: the variant must follow it
    return text.replace(old, new)


def variant_toml(base: str, variant: str, f: float) -> str:
    """The base scenario's text with the rules of `variant` (see the module's docstring)."""
    name = _replace_once(base, 'name = "national_', f'name = "{variant}_national_')
    if variant == "county_pooling":
        return _replace_once(name, 'by = "province" }', 'by = "region" }')
    if variant == "phasing":
        return _replace_once(name, "[objective]", "[phasing]\nfirst_year = 2006\nlast_year = 2010\nduration = 2\n\n[objective]")
    if variant == "hard_targets":
        for low, high in ((450, 550), (2200, 2600), (90, 110)):  # centres, stations, networks
            middle = (low + high) / 2 * f
            least = int(np.ceil(middle * 0.995))  # at small n the window may hold no whole number: then exactly `least`
            name = _replace_once(name, f"min = {int(round(low * f))}\nmax = {int(round(high * f))}",
                                 f"min = {least}\nmax = {max(least, int(np.floor(middle * 1.005)))}")
        name = _replace_once(name, 'scope = "national"\nscale = 0.01\ntarget = 99\n', 'scope = "province"\nscale = 0.01\ntarget = 90\nhard = true\n')
        return _replace_once(name, 'scope = "zone"\nscale = 0.01\ntarget = 50\n', 'scope = "province"\nscale = 0.01\ntarget = 30\nhard = true\n')
    if variant == "project_caps":
        caps = ", ".join(f'{type_key} = "{cap:g}万"' for type_key, cap in CENTRAL_CAPS.items())
        return _replace_once(name, "max_share_of_cost = 0.5\n", f"max_share_of_cost = 0.5\ncap_per_project = {{ {caps} }}\n")
    raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")


def generate(n: int, seed: int = 0, out: Path = DEFAULT_OUT, *, time_limit: float = 300.0, mip_rel_gap: float = 1e-4,
             force: bool = False, variant: str = "base") -> Path:
    """Write the scenario folder for `n` candidates (its tables reused when they exist) and the scenario file of
    `variant` ("base": scenario.toml, else scenario_<variant>.toml on the same tables); returns the scenario file."""
    folder = Path(out) / f"national_{n}_seed{seed}"
    f = n / BASE_CANDIDATES
    text = scenario_toml(n, f, time_limit, mip_rel_gap)
    scenario = folder / ("scenario.toml" if variant == "base" else f"scenario_{variant}.toml")
    if variant != "base":
        text = variant_toml(text, variant, f)
    if force or not (folder / "projects.csv.gz").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, n])
        regions = scaled_regions(f)
        _write_csv_gz(regions, folder / "regions.csv.gz")
        _write_csv_gz(projects(n, regions, rng), folder / "projects.csv.gz")
    scenario.write_text(text, encoding="utf-8")
    return scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--variant", choices=["base", *VARIANTS], default="base", help="rules that grow with n (see above)")
    args = parser.parse_args()
    for n in args.sizes:
        print(generate(n, args.seed, args.out, force=args.force, variant=args.variant))


if __name__ == "__main__":
    main()
