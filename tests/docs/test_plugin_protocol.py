"""docs/plugins.md "Show that your architecture helps": the short protocol runs as written,
from an empty folder, and writes what the full one writes; it differs from the full
protocol only in the knobs its table names (the full one trains for 30 minutes)."""

from __future__ import annotations

import json
import re
import shlex

import click
import pytest
from click.testing import CliRunner

from covplan.cli import cli
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

PLUGINS_DOC = (REPO_ROOT / "docs" / "plugins.md").read_text()
SECTION = PLUGINS_DOC[PLUGINS_DOC.index("## Show that your architecture helps"):]
SECTION = SECTION[:SECTION.index("\n## ")] if "\n## " in SECTION else SECTION


def protocols() -> tuple[list[list[str]], list[list[str]]]:
    """The command lines (arguments after ``covplan``, a ``> FILE`` kept as two words) of
    the full protocol and of the short one."""
    blocks = re.findall(r"```console\n(.*?)```", SECTION, re.DOTALL)
    assert len(blocks) == 2, "the section shows the full protocol, then the short one"
    return tuple([shlex.split(line[len("$ covplan "):], comments=True)
                  for line in block.replace("\\\n", " ").splitlines() if line.startswith("$ covplan ")]
                 for block in blocks)


def parsed(arguments: list[str]) -> tuple[str, list[str], dict[str, list[str]]]:
    """A command line as its command, its positional words and its options (by parameter
    name, flags as ``[]``)."""
    command = cli.get_command(click.Context(cli), arguments[0])
    options = {opt: param for param in command.params if isinstance(param, click.Option)
               for opt in param.opts + param.secondary_opts}
    positional: list[str] = []
    values: dict[str, list[str]] = {}
    words = iter(arguments[1:])
    for word in words:
        if word not in options:
            positional.append(word)
            continue
        param = options[word]
        values.setdefault(param.name, []).extend([] if param.is_flag else [next(words)])
    return arguments[0], positional, values


def table_knobs() -> set[str]:
    """The parameter names of the options the knob table's rows name."""
    rows = [line for line in SECTION.splitlines() if line.startswith("| `")]
    named = set(re.findall(r"(?<![\w-])--?[a-z][-\w]*", "\n".join(rows)))
    commands = [cli.get_command(click.Context(cli), name) for name in ("demo-data", "plan-and-train")]
    return {param.name for command in commands for param in command.params
            for opt in param.opts + param.secondary_opts if opt in named}


def test_the_short_protocol_changes_only_the_knobs_its_table_names():
    full, short = protocols()
    assert [arguments[0] for arguments in full] == [arguments[0] for arguments in short]
    changed: set[str] = set()
    for full_line, short_line in zip(full, short):
        (_, full_positional, full_options), (_, short_positional, short_options) = map(parsed, (full_line, short_line))
        assert full_positional == short_positional, shlex.join(short_line)
        changed |= {name for name in full_options.keys() | short_options.keys()
                    if full_options.get(name) != short_options.get(name)}
    assert changed == table_knobs()


def test_the_short_protocol_writes_the_table_the_noise_floor_and_the_choice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, short = protocols()
    outputs = {}
    for arguments in short:
        redirect = arguments[-2:] if arguments[-2:-1] == [">"] else None
        arguments = arguments[:-2] if redirect else arguments
        result = CliRunner().invoke(cli, arguments)
        assert result.exit_code == 0, f"covplan {shlex.join(arguments)}\n{result.output}"
        if redirect:
            (tmp_path / redirect[1]).write_text(result.stdout)
        outputs[arguments[0]] = result.stdout

    plugins = json.loads((tmp_path / "plugins.json").read_text())["plugins"]
    assert {(plugin["name"], plugin["distribution"]) for plugin in plugins} >= {("qchc_unet", "covplan-qchc")}
    table = json.loads((tmp_path / "demo" / "work" / "compare" / "compare.json").read_text())
    assert table["baseline"] == "plain_unet__3d_fullres" and table["metrics"] == ["Dice", "NSD", "HD95", "LesionF1"]
    assert {row["model"] for row in table["rows"]} == {"qchc_unet__3d_fullres"}
    assert {row["metric"] for row in table["rows"]} == set(table["metrics"])
    # Two validation cases: as the docs say, nothing can be significant.
    assert all(row["n"] == 2 and row["p_holm"] >= 0.5 and not row["significant"] for row in table["rows"])
    for suffix in ("csv", "png"):
        assert (tmp_path / "demo" / "work" / "compare" / f"compare.{suffix}").is_file()
    noise_floor = json.loads((tmp_path / "demo" / "work" / "compare_seeds" / "compare.json").read_text())
    assert {row["model"] for row in noise_floor["rows"]} == {"seeds/seed_12346/plain_unet__3d_fullres"}
    choice = outputs["find-best"]
    assert re.search(r"against the runner-up \S+: .*not significantly better at 0.05", choice), choice
    assert {line.split()[3] for line in choice.splitlines() if line.startswith("over 2 seeds:")} == {
        "plain_unet__3d_fullres", "qchc_unet__3d_fullres"}
    assert json.loads((tmp_path / "demo" / "work" / "find_best.json").read_text())["best"] in {
        "plain_unet__3d_fullres", "qchc_unet__3d_fullres"}
