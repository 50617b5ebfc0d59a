"""A bug found at run time is one line and exit code 4, never a traceback."""

import pytest
from click.testing import CliRunner

import allocator.report
from allocator.cli import main
from allocator.errors import InternalError
from allocator.report.labels import label
from allocator.report.workbook import TotalMismatch


def test_a_bug_in_a_command_is_one_line_and_exit_code_4(tmp_path, monkeypatch):
    def mismatch(*args, **kwargs):
        raise TotalMismatch("by source: total 3.0 is not the sum of its rows 2.0")

    monkeypatch.setattr(allocator.report, "export", mismatch)
    result = CliRunner().invoke(main, ["export", str(tmp_path)])
    assert result.exit_code == 4, result.output
    assert "error: by source: total 3.0 is not the sum of its rows 2.0" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("call", [lambda tmp_path: allocator.report.export(tmp_path, "pdf"),
                                  lambda tmp_path: label("title.status", "fr")])
def test_an_argument_no_command_can_give_is_a_bug(tmp_path, call):
    with pytest.raises(InternalError) as error:
        call(tmp_path)
    assert error.value.exit_code == 4
