"""``report.md`` and a self-contained ``report.html`` for a run: what was funded, where the money
goes, which targets were met or missed and by how much, and the marginal values.

Both are rendered from one list of blocks, so they say the same thing; the HTML adds the charts as
``data:`` URIs and carries its own CSS (no network fetch of any kind). All text from the inputs is
escaped for HTML and for Markdown tables.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.marginal_table import is_current, ranked
from allocator.report import charts
from allocator.report.labels import (PROVINCES_EN, format_indicator, group_name, groups_met_text, label, local_time, scope_label, status_label,
                                     unmeasured_text, zone_label)
from allocator.report.workbook import (IndicatorSummary, benefit_shares, broken_rules, equity_names, equity_views, indicator_displays,
                                       lorenz_points, objective_text, provinces_without_allocation, run_title, summarise_indicators)
from allocator.rounding import shares_adding_up
from allocator.runformat.cells import finite_number, format_count, format_money, format_value
from allocator.runformat.markdown import escape_markdown
from allocator.runformat.names import REPORT_HTML, REPORT_MD, report_file
from allocator.runformat.run import Run

#: At most this many marginal-value rows in the report (the rest are in marginal.csv).
MARGINAL_ROWS = 40
#: Places of a share (a fraction) the report shows: 12.3%.
PERCENT_DECIMALS = 3


@dataclass
class Block:
    kind: str  # h1, h2, p, note, table, chart
    text: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)
    png: bytes = b""


def _gap(value: float | None, status: str, lang: str) -> str:
    """The relative gap as measured; "not measured" when the solver reported none (CBC); nothing for a formula allocation."""
    if value is not None:
        return f"{float(value):.2e}"
    return "" if status in ("formula", "cascade") else label("report.gap_not_measured", lang)


def _broken_rule_blocks(run: Run, lang: str) -> list[Block]:
    """For a formula allocation: the scenario rules it breaks (nothing for a solved run)."""
    broken = broken_rules(run.manifest)
    if broken is None:
        return []
    heading = Block("h2", label("report.broken_rules", lang))
    if not broken:
        return [heading, Block("p", label("report.no_broken_rules", lang))]
    return [heading, Block("p", label("report.broken_rules_text", lang).format(count=len(broken))),
            Block("table", headers=[label("col.rule", lang)], rows=[[rule] for rule in broken], numeric=[False])]


def _no_allocation_blocks(run: Run, lang: str) -> list[Block]:
    """For a two-stage allocation: the provinces whose solve found no allocation, and why (nothing for any other run)."""
    missing = provinces_without_allocation(run.manifest)
    if not missing:
        return []
    t = lambda key: label(key, lang)  # noqa: E731
    return [Block("h2", t("report.no_allocation")), Block("p", t("report.no_allocation_text").format(count=len(missing))),
            Block("table", headers=[t("col.province"), t("report.status"), t("col.why")],
                  rows=[[province, status_label(status, lang), why] for province, status, why in missing], numeric=[False] * 3)]


def _limit_and_used(row: Any) -> list[str]:
    """A marginal row's limit and what the plan reaches of it, both in one format: money (万元) as every money table
    prints it, anything else as a figure."""
    show = format_money if row.unit == "万元" else format_value
    return [show(row.limit), show(row.used)]


def _benefit_blocks(run: Run, types: pd.DataFrame, lang: str) -> list[Block]:
    """max_benefit: each type's funded projects, benefit and share of the total benefit (manifest objective.by_type)."""
    shares = benefit_shares(run.manifest, PERCENT_DECIMALS)
    if not shares:
        return []
    t = lambda key: label(key, lang)  # noqa: E731
    unit = run.manifest.objective.unit if run.manifest.objective else None
    type_labels, total = dict(run.types), sum(value for _, value, _ in shares)
    funded = types["funded"] if "funded" in types else pd.Series(dtype=float)
    rows = [[type_labels.get(k, k), format_count(funded.get(k, 0.0)), f"{value:,.2f}", f"{share:.1%}"] for k, value, share in shares]
    return [Block("h2", t("report.benefit")), Block("p", t("report.benefit_text").format(unit=(f"（{unit}）" if lang == "zh" else f" ({unit})") if unit else "", total=f"{total:,.2f}")),
            Block("table", headers=[t("col.type"), t("col.funded"), t("col.benefit") + (f" ({unit})" if unit else ""),
                                    t("col.benefit_share")], rows=rows, numeric=[False, True, True, True])]


def _ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def frame_block(frame: pd.DataFrame) -> Block:
    """A table block of a DataFrame: numbers formatted for reading, text kept as it is (escaped when rendered)."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns]
    rows = [[format_value(v) if n else ("" if pd.isna(v) else str(v)) for v, n in zip(row, numeric)] for row in frame.itertuples(index=False)]
    return Block("table", headers=[str(c) for c in frame.columns], rows=rows, numeric=numeric)


def build_blocks(run: Run, lang: str = "zh", font: charts.FontChoice | None = None) -> list[Block]:
    font = charts.cjk_font() if font is None else font
    t = lambda key: label(key, lang)  # noqa: E731
    wan = lambda header: f"{header}（万元）" if lang == "zh" else f"{header} (10,000 yuan)"  # noqa: E731  money columns name their unit
    colon = "：" if lang == "zh" else ": "
    keys, sources = run.source_keys, run.sources
    title = run_title(run)
    blocks = [Block("h1", f"{t('report.title')}{colon}{title}")]
    if run.description and run.description != title:
        blocks.append(Block("p", run.description))
    manifest = run.manifest
    solver, objective, overrides = manifest.solver, manifest.objective, manifest.scenario.overrides
    facts = [[t("report.status"), status_label(run.status, lang)], [t("report.solver"), str(solver.version or solver.name) if solver else ""],
             [t("report.gap"), _gap(objective.mip_gap if objective else None, run.status, lang)],
             [t("report.objective"), objective_text(manifest)], [t("report.created"), local_time(manifest.created)],
             [t("report.created_utc"), manifest.created]]
    if overrides:
        facts.append([t("report.overrides"), "; ".join(f"{o.key} = {o.new}" for o in overrides)])
    blocks.append(Block("table", headers=[t("col.key"), t("col.value")], rows=facts, numeric=[False, False]))
    if not font.cjk:
        blocks.append(Block("note", t("report.font_note")))
    blocks.extend(_no_allocation_blocks(run, lang))
    blocks.extend(_broken_rule_blocks(run, lang))

    # what was funded
    allocation = run.allocation
    funded_total = float(run.funded["total"].sum()) if len(run.funded) else 0.0
    blocks.append(Block("h2", t("report.funded")))
    blocks.append(Block("p", t("report.funded_text").format(funded=format_count(allocation["selected"].astype(float).sum()),
                                                            candidates=f"{len(allocation):,}", money=format_money(funded_total))))
    types = run.money_by("type", [k for k, _ in run.types])
    candidates = allocation.groupby(allocation["type"].astype(str)).size()
    type_labels = dict(run.types)
    blocks.append(Block("table", headers=[t("col.type"), t("col.candidates"), t("col.funded"), *[wan(lab) for _, lab in sources], wan(t("col.total"))],
                        rows=[[type_labels.get(k, k), f"{int(candidates.get(k, 0)):,}", format_count(r["funded"]),
                               *[format_money(r[s]) for s in keys], format_money(r["total"])] for k, r in types.iterrows()],
                        numeric=[False] + [True] * (3 + len(keys))))
    blocks.extend(_benefit_blocks(run, types, lang))

    # where the money goes
    blocks.append(Block("h2", t("report.money")))
    by_source = run.by_source
    used = {k: float(allocation[k].astype(float).sum()) for k in keys}
    rows = []
    for (key, lab), budget in zip(sources, by_source["budget"]):
        budget = finite_number(budget) or 0.0
        rows.append([lab, format_money(budget), format_money(used[key]), f"{used[key] / budget:.1%}" if budget else ""])
    blocks.append(Block("table", headers=[t("col.source"), wan(t("col.budget")), wan(t("col.used")), t("col.used_share")], rows=rows,
                        numeric=[False, True, True, True]))
    zones = run.money_by("zone", run.zone_order)
    zone_names = [charts.pick(zone_label(z, lang if font.cjk else "en"), zone_label(z, "en") if _ascii(zone_label(z, "en")) else f"zone {i + 1}", font)
                  for i, z in enumerate(zones.index)]
    source_names = [charts.pick(lab, key if _ascii(key) else f"source {i + 1}", font) for i, (key, lab) in enumerate(sources)]
    chart_lang = lang if font.cjk else "en"
    blocks.append(Block("h2", t("report.by_zone")))
    blocks.append(Block("chart", label("report.chart_zone", chart_lang),
                        png=charts.stacked_bars(zone_names, [(n, list(zones[k])) for n, k in zip(source_names, keys)],
                                                label("report.chart_zone", chart_lang), "万元" if chart_lang == "zh" else "10,000 yuan", font)))
    blocks.append(Block("table", headers=[t("col.zone"), t("col.funded"), *[wan(lab) for _, lab in sources], wan(t("col.total"))],
                        rows=[[zone_label(z, lang), format_count(r["funded"]), *[format_money(r[k]) for k in keys], format_money(r["total"])]
                              for z, r in zones.iterrows()], numeric=[False] + [True] * (2 + len(keys))))
    provinces = run.money_by("province", run.province_order)
    grand = float(provinces["total"].sum())
    province_names = [charts.pick(p if chart_lang == "zh" else PROVINCES_EN.get(p, p), PROVINCES_EN.get(p, f"province {i + 1}"), font)
                      for i, p in enumerate(provinces.index)]
    province_names = [n if charts.drawable(n, font) else f"province {i + 1}" for i, n in enumerate(province_names)]
    blocks.append(Block("h2", t("report.by_province")))
    blocks.append(Block("chart", label("report.chart_province", chart_lang),
                        png=charts.stacked_bars(province_names, [(n, list(provinces[k])) for n, k in zip(source_names, keys)],
                                                label("report.chart_province", chart_lang), "万元" if chart_lang == "zh" else "10,000 yuan", font)))
    blocks.append(Block("table", headers=[t("col.province"), t("col.funded"), *[wan(lab) for _, lab in sources], wan(t("col.total")),
                                          t("col.share")],
                        rows=[[p, format_count(r["funded"]), *[format_money(r[k]) for k in keys], format_money(r["total"]),
                               f"{share:.1%}" if grand > 0 else ""]
                              for (p, r), share in zip(provinces.iterrows(), shares_adding_up(provinces["total"].to_numpy(), PERCENT_DECIMALS))],
                        numeric=[False] + [True] * (3 + len(keys))))

    # targets
    blocks.append(Block("h2", t("report.targets")))
    items = summarise_indicators(run.indicators)
    if not items:
        blocks.append(Block("p", t("report.no_targets")))
    else:
        blocks += _target_blocks(run, items, lang)
        national = [i for i in items if i.groups == 1 and i.achieved is not None and i.target]
        if national:
            names = [charts.pick(i.label, i.indicator if _ascii(i.indicator) else f"indicator {n + 1}", font) for n, i in enumerate(national)]
            ratios = [(i.achieved or 0.0) / (i.target or 1.0) for i in national]
            blocks.append(Block("chart", label("report.chart_targets", chart_lang),
                                png=charts.ratio_bars(names, ratios, label("report.chart_targets", chart_lang), font)))

    blocks += _year_blocks(run, items, lang, chart_lang, font)

    blocks += _equity_blocks(run, lang, chart_lang, font)

    # marginal values
    blocks.append(Block("h2", t("report.marginal")))
    marginal = run.marginal
    if marginal is None or not len(marginal):
        blocks.append(Block("p", t("report.no_marginal")))
    elif not is_current(marginal):
        blocks.append(Block("p", t("report.old_marginal")))
    else:
        blocks.append(Block("p", t("report.marginal_text")))
        shown = ranked(marginal, run.manifest.sense).head(MARGINAL_ROWS)
        blocks.append(Block("table", headers=[t("col.rule"), t("col.group"), t("col.limit"), t("col.reached"), t("col.unit"), t("col.binding"),
                                              t("col.step"), t("col.gain"), t("col.method")],
                            rows=[[_rule_name(r, lang), "" if pd.isna(r.group) else str(r.group), *_limit_and_used(r),
                                   "" if pd.isna(r.unit) else str(r.unit), label("yes" if r.binding else "no", lang), f"{format_value(r.step)} {r.per}",
                                   format_value(r.gain), str(r.method) if lang == "zh" else str(r.technical_method)]
                                  for r in shown.itertuples()], numeric=[False, False, True, True, False, False, True, True, False]))
        if len(marginal) > MARGINAL_ROWS:
            blocks.append(Block("note", f"… {len(marginal) - MARGINAL_ROWS:,} more rows in marginal.csv"))
    blocks.append(Block("note", t("report.files")))
    return blocks


def _equity_blocks(run: Run, lang: str, chart_lang: str, font: charts.FontChoice) -> list[Block]:
    """Fairness between regions: the spread of money per resident, and each indicator's gap between zones."""
    if run.equity is None:
        return []
    t = lambda key: label(key, lang)  # noqa: E731
    spread, _, gaps = equity_views(run.equity, *equity_names(run, lang))
    blocks = [Block("h2", t("report.equity")), Block("p", t("report.equity_text")),
              Block("table", headers=[t("col.basis"), t("col.gini"), t("col.theil"), t("col.theil_between"), t("col.theil_within")],
                    rows=[[str(row[0]), *(f"{v:.4f}" if v == v else "" for v in row[1:])] for row in spread],
                    numeric=[False, True, True, True, True])]
    curves = lorenz_points(run.equity)
    bases, _ = equity_names(run, chart_lang)
    if curves:
        blocks.append(Block("chart", label("report.chart_lorenz", chart_lang),
                            png=charts.lorenz([(charts.pick(bases.get(b, b), b, font), *curves[b]) for b in curves],
                                              label("report.chart_lorenz", chart_lang), label("report.lorenz_x", chart_lang),
                                              label("report.lorenz_y", chart_lang), font)))
    if gaps:
        displays = indicator_displays(run.manifest)
        blocks.append(Block("table", headers=[t("col.indicator"), t("col.gap_before"), t("col.gap_after")],
                            rows=[[str(name), format_indicator(before, displays.get(str(key), "number")),
                                   format_indicator(after, displays.get(str(key), "number"))] for key, name, before, after in gaps],
                            numeric=[False, True, True]))
    return blocks


def _rule_name(row: Any, lang: str) -> str:
    """A marginal-table rule as the report's language names it: the plain Chinese label, or the technical English."""
    return str(row.label) if lang == "zh" else str(row.rule)


def _target_blocks(run: Run, items: list[IndicatorSummary], lang: str) -> list[Block]:
    """How many targets were met, each indicator against its target (percent indicators as percentages), and the groups
    without a denominator, named: the counts of summarise_indicators, as the workbook and terminal show them."""
    t = lambda key: label(key, lang)  # noqa: E731
    displays = indicator_displays(run.manifest)
    blocks = [Block("p", t("report.targets_text").format(met=sum(1 for i in items if i.met), missed=sum(1 for i in items if i.met is False)))]
    rows = []
    for item in items:
        show = partial(format_indicator, display=displays.get(item.indicator, "number"))
        single = item.groups == 1
        if not single:
            verdict = groups_met_text(item, lang)
        elif item.met is None:
            verdict = t("na")
        else:
            verdict = t("met") if item.met else t("report.missed_by").format(by=show(item.shortfall))
        rows.append([item.label, scope_label(item.scope, lang), show(item.baseline) if single else "", show(item.achieved) if single else "",
                     show(item.target), verdict])
    blocks.append(Block("table", headers=[t("col.indicator"), t("col.scope"), t("col.baseline"), t("col.achieved"), t("col.target"), t("col.met")],
                        rows=rows, numeric=[False, False, True, True, True, False]))
    regions = run.region_names
    notes = [unmeasured_text(item, partial(group_name, regions, item.scope, lang=lang), lang) for item in items]
    return blocks + [Block("note", note) for note in notes if note]


def _year_blocks(run: Run, items: list[IndicatorSummary], lang: str, chart_lang: str, font: charts.FontChoice) -> list[Block]:
    """For a phased run: each single-group indicator's trajectory against its target."""
    by_year = run.by_year
    if by_year is None or len(by_year) < 2:
        return []
    lines = []
    for n, item in enumerate(items):
        column = item.indicator
        if item.groups == 1 and column in by_year and item.target is not None:
            name = charts.pick(item.label, column if _ascii(column) else f"indicator {n + 1}", font)
            lines.append((name, [float(v) for v in by_year[column]], item.target))
    if not lines:
        return []
    title = label("report.chart_years", chart_lang)
    return [Block("h2", label("report.by_year", lang)), Block("p", label("report.by_year_text", lang)),
            Block("chart", title, png=charts.trajectories([str(y) for y in by_year["year"]], lines, title, font))]


# -- rendering ---------------------------------------------------------------------------------


def render_markdown(blocks: list[Block], lang: str = "zh") -> str:
    lines: list[str] = []
    charts_noted = False
    for block in blocks:
        if block.kind == "h1":
            lines += [f"# {escape_markdown(block.text)}", ""]
        elif block.kind == "h2":
            lines += [f"## {escape_markdown(block.text)}", ""]
        elif block.kind in ("p", "note"):
            lines += [(f"> {escape_markdown(block.text, line_start=True)}" if block.kind == "note"
                       else escape_markdown(block.text, line_start=True)), ""]
        elif block.kind == "table":
            lines.append("| " + " | ".join(escape_markdown(h) for h in block.headers) + " |")
            lines.append("| " + " | ".join("---:" if n else "---" for n in block.numeric) + " |")
            lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif block.kind == "chart" and not charts_noted:
            lines += [f"> {label('report.charts_in_html', lang)}", ""]
            charts_noted = True
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em auto;max-width:1100px;padding:0 1em;color:#222;line-height:1.5}
h1{font-size:1.6em;border-bottom:2px solid #1f4e78;padding-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;color:#1f4e78}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#ddebf7}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#f7f9fc}img{max-width:100%;height:auto;display:block;margin:.5em 0}
.note{color:#555;border-left:3px solid #ccc;padding-left:.8em}
"""


def render_html(blocks: list[Block], lang: str = "zh") -> str:
    e = html.escape
    title = next((b.text for b in blocks if b.kind == "h1"), "report")
    out = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', "<head>", '<meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">',
           f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    for block in blocks:
        if block.kind in ("h1", "h2"):
            out.append(f"<{block.kind}>{e(block.text)}</{block.kind}>")
        elif block.kind == "p":
            out.append(f"<p>{e(block.text)}</p>")
        elif block.kind == "note":
            out.append(f'<p class="note">{e(block.text)}</p>')
        elif block.kind == "table":
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in block.headers) + "</tr></thead><tbody>")
            for row in block.rows:
                out.append("<tr>" + "".join(f'<td class="n">{e(c)}</td>' if n else f"<td>{e(c)}</td>"
                                            for c, n in zip(row, block.numeric)) + "</tr>")
            out.append("</tbody></table>")
        elif block.kind == "chart":
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<img alt="{e(block.text)}" src="data:image/png;base64,{data}">')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def write_report(run: Run, folder: Path, lang: str = "zh", *, markdown: bool = True, html_: bool = True) -> list[Path]:
    """report.md and report.html of `run` in `folder` (``report_en.md`` … in English)."""
    label("report.title", lang)  # refuse an unknown language first
    blocks = build_blocks(run, lang)
    written = []
    if markdown:
        path = Path(folder) / report_file(REPORT_MD, lang)
        path.write_text(render_markdown(blocks, lang), encoding="utf-8")
        written.append(path)
    if html_:
        path = Path(folder) / report_file(REPORT_HTML, lang)
        path.write_text(render_html(blocks, lang), encoding="utf-8")
        written.append(path)
    return written
