"""docs/tutorial.md stays true: every `$ allocate ...` command in it runs, and prints what it shows.

Each command runs through click's CliRunner in a temporary working directory (so `--out runs/...`
lands there and runs never collide), with scenario paths taken from the repository root. Every
output line the tutorial shows must appear in the actual output, with one exception: the solve
time ("0.42 s"), which varies from run to run, is masked on both sides. Everything else, figures,
gap and solver version included, must match exactly.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "docs" / "tutorial.md"
PROMPT = "$ allocate "
#: A duration such as "0.42 s" (the solve time on the status line).
TIMING = re.compile(r"\b\d+(\.\d+)? s\b")


def tutorial_commands(text: str) -> list[tuple[str, list[str]]]:
    """(command, output lines shown after it) for each `$ allocate` line inside a fenced block."""
    commands: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            current = None
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            current = None
            if line.startswith(PROMPT):
                current = []
                commands.append((line[2:], current))
        elif current is not None:
            current.append(line)
    return commands


def masked(line: str) -> str:
    return TIMING.sub("<seconds> s", line.rstrip())


COMMANDS = tutorial_commands(TUTORIAL.read_text(encoding="utf-8"))


def test_the_tutorial_has_commands_with_outputs():
    assert len(COMMANDS) >= 2
    assert all(shown for _, shown in COMMANDS), "every command shows its output"
    assert any("--set sources.central.budget=8亿" in command for command, _ in COMMANDS)


def test_parser_and_masking():
    text = "```console\n$ allocate run a.toml\nx: optimal (gap 1e-3, 0.42 s)\n\n$ head f\nnot output\n```\n$ allocate no\n"
    assert tutorial_commands(text) == [("allocate run a.toml", ["x: optimal (gap 1e-3, 0.42 s)", ""])]
    assert masked("gap 4.32e-05, 0.42 s)") == masked("gap 4.32e-05, 17.3 s)")
    assert masked("gap 4.32e-05, 0.42 s)") != masked("gap 4.33e-05, 0.42 s)")
    assert masked("2,639 of 4,400 candidates") == "2,639 of 4,400 candidates"


def arguments(command: str) -> list[str]:
    """The CLI arguments, with scenario files resolved against the repository root."""
    args = shlex.split(command)[1:]  # drop "allocate"
    return [str(REPO / a) if a.endswith(".toml") else a for a in args]


@pytest.mark.parametrize(("command", "shown"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_tutorial_command_prints_what_the_tutorial_shows(command, shown, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = arguments(command)
    assert "--out" in args, "give every tutorial run its own --out so runs do not collide"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    actual = {masked(line) for line in result.output.splitlines()}
    missing = [line for line in shown if line.strip() and masked(line) not in actual]
    assert not missing, "lines in docs/tutorial.md that the run no longer prints:\n" + "\n".join(missing) + \
        "\n\nactual output:\n" + result.output
