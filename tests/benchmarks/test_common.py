"""The benchmarks' shared recording and plugin set-up (the benchmarks themselves are not tests:
their figures depend on the machine)."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import pytest

from covplan import plugins
from covplan.architectures.base import architectures
from tests.paths import REPO_ROOT


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", REPO_ROOT / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_appends_the_table_with_machine_versions_and_command(common, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OUT", str(tmp_path / "out"))
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench_x.py", "--quick"])
    output = tmp_path / "benchmarks.md"
    output.write_text("# intro\n")
    table = common.markdown_table(["trainer", "s / step"], [["covplan", 0.123456], ["nnU-Net", 2]])
    assert table.splitlines() == ["| trainer | s / step |", "|---|---|", "| covplan | 0.1235 |", "| nnU-Net | 2 |"]

    common.record("Training throughput", table, notes=["dataset: demo"], output_file=output)
    common.record("Second run", table, output_file=output)

    text = output.read_text()
    assert text.startswith("# intro\n### Training throughput\n")
    assert text.index("### Training throughput") < text.index("### Second run")
    for expected in ("- machine: ", " cores", "- versions: covplan ", "nnunetv2 ", "torch ",
                     "- command: `", "benchmarks/bench_x.py --quick`", "- dataset: demo", table):
        assert expected in text
    assert (tmp_path / "out" / "benchmarks.md").read_text() == text.removeprefix("# intro\n")


def test_bundled_plugins_are_registered_in_process_without_entry_points(common):
    plugins.load_plugins()
    module = importlib.import_module("covplan_qchc")
    installed_name = plugins.pm.get_name(module)
    if installed_name is not None:
        plugins.pm.unregister(name=installed_name)
    try:
        assert "qchc_unet" not in architectures()
        common.register_bundled_plugins()
        assert {"qchc_unet", "coarse_refine"} <= set(architectures())
    finally:
        if plugins.pm.is_registered(module):
            plugins.pm.unregister(module)
        if installed_name is not None:
            plugins.pm.register(module, name=installed_name)
