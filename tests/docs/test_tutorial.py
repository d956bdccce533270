"""docs/tutorial.md: its walk-throughs run as written, on demo data, and end in a report."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

TUTORIAL = (REPO_ROOT / "docs" / "tutorial.md").read_text()


def walk_throughs() -> list[list[list[str]]]:
    """The `$ covplan ...` command lines of every console block that starts from demo data."""
    blocks = re.findall(r"```console\n(.*?)```", TUTORIAL, re.DOTALL)
    return [[shlex.split(line[len("$ covplan "):]) for line in block.splitlines() if line.startswith("$ covplan ")]
            for block in blocks if "$ covplan demo-data" in block]


def test_the_tutorial_walks_from_a_download_and_from_hospital_slices_to_a_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = walk_throughs()
    assert len(runs) == 2 and all(len(commands) == 6 for commands in runs)
    for commands in runs:
        for arguments in commands:
            result = CliRunner().invoke(cli, arguments)
            assert result.exit_code == 0, f"covplan {shlex.join(arguments)}\n{result.output}"
            # nnU-Net's note about CUDA has no place in a CPU user's output.
            assert "perform_everything_on_device" not in result.output, shlex.join(arguments)
    for report in ("report", "slice_report"):
        assert (tmp_path / "tutorial" / report / "report.html").is_file()
    assert len((tmp_path / "tutorial" / "report" / "report.csv").read_text().splitlines()) == 3  # header, 2 patients
