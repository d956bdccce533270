"""The `covplan evaluate` and `covplan report` examples of docs/cli.md, run as written."""

import re
import subprocess
import sys

from click.testing import CliRunner

from covplan.cli import cli
from tests.paths import REPO_ROOT

CLI_DOC = (REPO_ROOT / "docs" / "cli.md").read_text()


def _documented_output(command: str) -> list[str]:
    """The lines docs/cli.md shows after ``$ covplan COMMAND ...`` up to the next prompt."""
    block = CLI_DOC[CLI_DOC.index(f"$ {command}\n") + len(command) + 3:]
    return re.split(r"\n(?:\$|```)", block)[0].splitlines()


def test_the_documented_evaluate_and_report_examples_print_what_the_docs_show(tmp_path, monkeypatch):
    subprocess.run([sys.executable, str(REPO_ROOT / "docs" / "examples" / "tiny_masks.py"), str(tmp_path / "tiny")],
                   check=True)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    evaluate = runner.invoke(cli, ["evaluate", "tiny/gt", "tiny/pred", "-j", "1"])
    assert evaluate.exit_code == 0, evaluate.output
    assert evaluate.stdout.splitlines() == _documented_output("covplan evaluate tiny/gt tiny/pred -j 1")
    report = runner.invoke(cli, ["report", "tiny/pred", "--images", "tiny/images", "-o", "tiny/report"])
    assert report.exit_code == 0, report.output
    assert report.stdout.splitlines() == _documented_output(
        "covplan report tiny/pred --images tiny/images -o tiny/report")
    assert (tmp_path / "tiny" / "report" / "report.csv").read_text().splitlines() == _documented_output(
        "cat tiny/report/report.csv")


def test_the_documented_find_best_example_prints_what_the_docs_show(tmp_path, monkeypatch):
    subprocess.run([sys.executable, str(REPO_ROOT / "docs" / "examples" / "tiny_work.py"), str(tmp_path / "work")],
                   check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["find-best", "work", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == _documented_output("covplan find-best work -j 1")
    assert (tmp_path / "work" / "good_unet__3d_fullres" / "postprocessing.json").is_file()


def test_the_documented_compare_example_prints_what_the_docs_show(tmp_path, monkeypatch):
    subprocess.run([sys.executable, str(REPO_ROOT / "docs" / "examples" / "tiny_work.py"), str(tmp_path / "work")],
                   check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["compare", "work/good_unet__3d_fullres", "work/weak_unet__3d_fullres"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == _documented_output(
        "covplan compare work/good_unet__3d_fullres work/weak_unet__3d_fullres")
    assert (tmp_path / "work" / "compare" / "compare.png").is_file()
