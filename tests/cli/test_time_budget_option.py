"""``--time-budget nan`` or ``inf`` is refused by the option parser, in one line, before
any work (issue 29, item 4)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from covplan.cli import cli


@pytest.mark.parametrize("minutes", ["nan", "inf", "NaN", "-inf"])
@pytest.mark.parametrize("command", ["train", "plan", "plan-and-train", "tune"])
def test_a_budget_that_is_no_finite_number_is_refused_before_any_work(command, minutes, raw_2d, tmp_path):
    work = tmp_path / "work"
    if command in ("train", "tune"):
        work.mkdir()
        arguments = [command, str(work), "-a", "plain_unet"] + (["-f", "0"] if command == "train" else [])
    else:
        arguments = [command, str(raw_2d), "-o", str(work), "-a", "plain_unet"]
    result = CliRunner().invoke(cli, [*arguments, "--time-budget", minutes])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [f"Error: Invalid value for '--time-budget': {minutes} is not a finite number."]
    assert list(work.glob("*")) == []
