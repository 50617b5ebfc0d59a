import pytest

from allocator.errors import InputError
from allocator.scenario import load_scenario
from helpers import DATA, write_case

PROJECTS = [{"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10}]
BASE = DATA + """
[types.centre]
welfare = true

[sources.central]
budget = "6亿"

[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }
"""


def load(tmp_path, toml, overrides=None):
    return load_scenario(write_case(tmp_path, toml, PROJECTS), overrides)


def test_money_is_resolved_to_wan(tmp_path):
    assert load(tmp_path, BASE).sources["central"].budget == 60_000.0


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (BASE.replace('budget = "6亿"', 'budgt = "6亿"'), "unknown key 'budgt' in [sources.central] (did you mean 'budget'?)"),
        (BASE.replace('budget = "6亿"', 'budget = "6忆"'), "did you mean '亿'"),
        (BASE.replace('budget = "6亿"', 'budget = "-6亿"'), "must not be negative"),
        (BASE.replace("welfare = true", 'welfare = "yes"'), "'welfare' must be true or false"),
        (BASE.replace('sense = "max_benefit"', 'sense = "max_benefits"'), "(did you mean 'max_benefit'?)"),
        (BASE + "\n[targets.counts.c]\ntype = \"centre\"\nmin = 5\nmax = 2\n", "min (5) is above max (2)"),
        (BASE + "\n[balance.shares.w]\nsource = \"central\"\nzone = \"west\"\nmin = 1.5\n", "'min' must be at most 1"),
        (BASE + "\n[sources.province]\nbudget = 1\n", "'province' cannot name a source"),
        (BASE + "\n[targets.indicators.i]\ncontribution = \"benefit\"\ndenominator = \"streets\"\ntarget = 1\n", "missing required key 'penalty'"),
        (BASE.replace('regions = "regions.csv"', 'regions = "../regions.csv"'), "leaves the scenario's folder"),
        (BASE + "\n[sources\n", "TOML syntax error"),
    ],
)
def test_scenario_mistakes_are_named(tmp_path, toml, message):
    with pytest.raises(InputError) as error:
        load(tmp_path, toml)
    assert message in str(error.value)
    assert "case.toml" in str(error.value)


def test_unknown_key_error_gives_the_line(tmp_path):
    toml = BASE.replace('budget = "6亿"', 'budget = "6亿"\nbudgt = 1')
    with pytest.raises(InputError) as error:
        load(tmp_path, toml)
    line = next(i for i, text in enumerate(toml.splitlines(), 1) if text.startswith("budgt"))
    assert f"case.toml:{line}" in str(error.value)


def test_extends_merges_key_by_key_and_overrides_are_logged(tmp_path):
    write_case(tmp_path, BASE, PROJECTS, name="base.toml")
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\nname = "child"\n[sources.central]\nlabel = "中央"\n', encoding="utf-8")
    scenario = load_scenario(child, ["sources.central.budget=8亿", "model.selection=continuous"])
    assert scenario.name == "child"
    assert scenario.sources["central"].label == "中央"
    assert scenario.sources["central"].budget == 80_000.0
    assert scenario.selection == "continuous"
    assert ("sources.central.budget", "6亿", "8亿") in scenario.document.overrides


def test_extends_cycle_is_refused(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(InputError, match="cycle: a.toml -> b.toml -> a.toml"):
        load_scenario(tmp_path / "a.toml")


def test_with_overrides_returns_a_new_scenario(tmp_path):
    scenario = load(tmp_path, BASE)
    changed = scenario.with_overrides({"sources.central.budget": "1亿"})
    assert changed.sources["central"].budget == 10_000.0
    assert scenario.sources["central"].budget == 60_000.0
