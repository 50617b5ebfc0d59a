import pytest

import allocator.config
from allocator.errors import InputError
from allocator.scenario_toml import budgets_as_read, load_scenario, with_overrides
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


@pytest.mark.parametrize("how", ["absolute", "dotdot", "link"])
def test_extends_outside_the_scenarios_folder_needs_allow_outside_paths_as_a_data_path_does(tmp_path, how):
    # extends = "/abs/x.toml" or "../x.toml" read the file (and its tables) wherever it was, --allow-outside-paths or not.
    write_case(tmp_path / "elsewhere", BASE, PROJECTS, name="base.toml")
    (tmp_path / "mine").mkdir()
    target = {"absolute": str(tmp_path / "elsewhere" / "base.toml"), "dotdot": "../elsewhere/base.toml", "link": "link.toml"}[how]
    if how == "link":
        (tmp_path / "mine" / "link.toml").symlink_to(tmp_path / "elsewhere" / "base.toml")
    child = tmp_path / "mine" / "child.toml"
    child.write_text(f'extends = "{target}"\nname = "child"\n', encoding="utf-8")
    with pytest.raises(InputError, match="leaves the scenario's folder .*--allow-outside-paths") as error:
        load_scenario(child)
    assert "child.toml:1" in str(error.value)
    assert load_scenario(child, allow_outside_paths=True).sources["central"].budget == 60_000.0


def test_an_outside_extends_says_nothing_of_whether_the_file_exists_or_what_it_holds(tmp_path):
    (tmp_path / "secret.toml").write_text("SECRET VALUE\n", encoding="utf-8")
    (tmp_path / "mine").mkdir()
    said = []
    for target in (tmp_path / "secret.toml", tmp_path / "missing.toml"):
        child = tmp_path / "mine" / "child.toml"
        child.write_text(f'extends = "{target}"\n', encoding="utf-8")
        with pytest.raises(InputError) as error:
            load_scenario(child)
        said.append(str(error.value).replace(target.name, "X"))
    assert said[0] == said[1] and "SECRET" not in said[0] and "syntax" not in said[0] and "exist" not in said[0]


def test_an_integer_of_more_digits_than_python_converts_is_refused_naming_its_line_or_key(tmp_path):
    # tomllib raises ValueError (not TOMLDecodeError) past 4,300 digits: a traceback, exit 1 (the workbench: HTTP 500).
    huge = "1" + "0" * 4400
    with pytest.raises(InputError, match=r"case.toml:3: a number of more than 4,300 digits"):
        load(tmp_path, f'name = "x"\n\nbudgt = {huge}\n' + BASE)
    path = write_case(tmp_path / "ok", BASE, PROJECTS)
    for override in (f"sources.central.budget={huge}", f"sources.central.budget={'9' * 5000}万"):
        with pytest.raises(InputError, match=r"--set: sources.central.budget: a number of more than 4,300 digits"):
            load_scenario(path, [override])


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_boolean_where_a_number_belongs_is_named_as_written(tmp_path, value):
    path = write_case(tmp_path, BASE, PROJECTS)
    with pytest.raises(InputError) as error:
        load_scenario(path, [f"solver.time_limit={value}"])
    assert str(error.value).endswith(f"got {value}") and "or false" not in str(error.value)


def test_with_overrides_returns_a_new_scenario(tmp_path):
    scenario = load(tmp_path, BASE)
    changed = with_overrides(scenario, {"sources.central.budget": "1亿"})
    assert changed.sources["central"].budget == 10_000.0
    assert scenario.sources["central"].budget == 60_000.0


def test_bare_money_is_refused_and_zero_is_not(tmp_path):
    with pytest.raises(InputError, match="sources.central.budget: 600 has no unit; write the unit: '600万'"):
        load(tmp_path, BASE.replace('budget = "6亿"', "budget = 600"))
    with pytest.raises(InputError, match="--set: sources.central.budget: 80 has no unit"):
        load(tmp_path, BASE, ["sources.central.budget=80"])
    assert load(tmp_path, BASE, ["sources.central.budget=0"]).sources["central"].budget == 0.0


def test_set_may_change_named_objects_but_not_create_them_by_a_typo(tmp_path):
    scenario = load(tmp_path, BASE)
    for key, noun, close in (("sources.centrl.budget", "source", "central"), ("types.Centre.welfare", "project type", "centre")):
        with pytest.raises(InputError) as error:
            with_overrides(scenario, {key: "8亿" if "budget" in key else False})
        assert f"there is no {noun} '{key.split('.')[1]}'" in str(error.value) and f"did you mean '{close}'" in str(error.value)
    with pytest.raises(InputError, match="no count target 'c'.*whole table"):
        with_overrides(scenario, {"targets.counts.c.min": 1})
    added = with_overrides(scenario, {"sources.extra": {"budget": "1万"}, "targets.counts.c": {"min": 1}})
    assert added.sources["extra"].budget == 1.0 and added.counts["c"].min == 1
    assert with_overrides(scenario, {"sources.central.budget": "1万"}).sources["central"].budget == 1.0


def test_budgets_are_echoed_as_read_with_where_they_came_from(tmp_path):
    scenario = load(tmp_path, BASE, ["sources.central.label=中央"])
    line = BASE.splitlines().index('budget = "6亿"') + 1
    assert budgets_as_read(scenario) == [f"budget central: 60,000.00万元 (6.00亿) ({tmp_path / 'case.toml'}:{line})"]
    changed = with_overrides(scenario, {"sources.central.budget": "80元"})
    assert budgets_as_read(changed) == ["budget central: 0.01万元 (--set)"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[phasing]\nfirst_year = 2006.7\nlast_year = 2010\n", "'first_year' must be a whole number (a year), got 2006.7"),
        ("[phasing]\nfirst_year = 2006\nlast_year = 2056\n", "the plan spans 51 years (2006-2056); a plan may have at most 50 years"),
        ("[phasing]\nfirst_year = 2006\nlast_year = 100002006\n", "'last_year' must be at most 2200"),
        ("[phasing]\nfirst_year = 2006\nlast_year = 2010\ndiscount_rate = 1e300\n", "'discount_rate' must be at most 1"),
        ("[solver]\ntime_limit = 0\n", "'time_limit' must be above 0 seconds"),
        ("[solver]\nthreads = 1e10\n", "'threads' must be at most 1024"),
        ("[solver]\nthreads = 1.5\n", "'threads' must be a whole number, got 1.5"),
        ("[solver]\nseed = 1e30\n", "'seed' must be at most 2147483647"),
        ("[balance]\nmin_projects_per_region = 1.5\n", "'min_projects_per_region' must be a whole number"),
        ("[targets.indicators.i]\ncontribution = \"benefit\"\ndenominator = \"streets\"\ntarget = 1\npenalty = 1e300\n",
         "'penalty' must be at most 1000000000"),
        ("[targets.indicators.i]\ncontribution = \"benefit\"\ndenominator = \"streets\"\ntarget = 1\npenalty = 1\nscale = 1e-300\n",
         "'scale' must be at least 1e-09"),
    ],
)
def test_numbers_are_whole_and_within_their_range(tmp_path, extra, message):
    toml = BASE.replace("[objective]", extra + "\n[objective]")
    with pytest.raises(InputError) as error:
        load(tmp_path, toml)
    assert message in str(error.value)
    line = next(i for i, text in enumerate(toml.splitlines(), 1) if text.startswith(message.split("'")[1] if "'" in message else "last_year"))
    assert f"case.toml:{line}" in str(error.value)


def test_the_largest_seed_and_a_fifty_year_plan_are_read(tmp_path):
    extra = "[phasing]\nfirst_year = 2001\nlast_year = 2050\n[solver]\nseed = 2147483647\nthreads = 1024\n"
    scenario = load(tmp_path, BASE.replace("[objective]", extra + "\n[objective]"))
    assert (scenario.solver.seed, scenario.solver.threads, scenario.phasing.periods) == (2**31 - 1, 1024, 50)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("", "the scenario is empty"),
        ("# nothing yet\n", "the scenario is empty"),
        ('name = "a\\u0000b"\n' + BASE, "U+0000"),
        (BASE.replace("[sources.central]", '[sources."cen\\u200btral"]'), "the key holds the invisible character U+200B"),
        (BASE + '\n[types.station]\nlabel = "x\\ny"\n', "U+000A"),
        (BASE.replace("[objective]", "deep = " + "[" * 20 + "]" * 20 + "\n[objective]"), "nested more than 16 levels deep"),
        (BASE.replace("[objective]", "deep = " + "[" * 5000 + "]" * 5000 + "\n[objective]"), "nested too deeply"),
        (BASE.replace("[objective]", f'description = "{"x" * 2001}"\n[objective]'), "too long (2,001 characters; at most 2,000)"),
        (BASE.replace('regions = "regions.csv"', 'regions = ""'), "the path is empty"),
        (BASE.replace('regions = "regions.csv"', f'regions = "{"r" * 256}"'), "is too long (256 bytes; at most 255)"),
        ('extends = "' + "e" * 256 + '"\n' + BASE, "the path it extends: the name 'eeee"),
    ],
)
def test_text_and_structure_mistakes_are_named(tmp_path, toml, message):
    with pytest.raises(InputError) as error:
        load(tmp_path, toml)
    assert message in str(error.value) and "case.toml" in str(error.value)
    assert all(ch.isprintable() for ch in str(error.value))


def test_a_description_may_span_lines(tmp_path):
    assert load(tmp_path, 'description = """one\n\ttwo"""\n' + BASE).description == "one\n\ttwo"


def test_a_scenario_file_is_bounded_in_size(tmp_path, monkeypatch):
    monkeypatch.setattr(allocator.config, "MAX_SCENARIO_BYTES", 100)
    with pytest.raises(InputError, match="above the 0 MiB"):
        load(tmp_path, BASE)



@pytest.mark.parametrize(
    ("toml", "override", "where"),
    [
        (BASE + "\n[targets.counts.c]\ntype = \"centre\"\nmin = 5\n", "targets.counts.c.max=2", "targets.counts.c.max"),
        (BASE + "\n[balance.shares.w]\nsource = \"central\"\nzones = [\"west\"]\nmin = 0.6\n", "balance.shares.w.max=0.1",
         "balance.shares.w.max"),
        (BASE.replace('budget = "6亿"', 'budget = "6亿"\nmin_spend = "5亿"'), "sources.central.budget=4亿", "sources.central.budget"),
        (BASE.replace("benefit = { benefit = 1.0 }", ""), "objective.sense=max_benefit", "objective.sense"),
    ],
)
def test_keys_that_contradict_each_other_are_located_at_the_set_that_changed_one(tmp_path, toml, override, where):
    # A count's min above the max a --set gave was reported at the scenario file's line of 'min'.
    with pytest.raises(InputError) as refused:
        load(tmp_path, toml, [override])
    assert refused.value.source == "--set" and refused.value.where == where

