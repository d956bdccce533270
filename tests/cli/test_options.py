"""One option vocabulary: an option name means the same thing in every command, and
docs/cli.md documents every option of every command."""

from __future__ import annotations

import re
from collections import defaultdict

import click
import pytest
from click.testing import CliRunner

from covplan.cli import COMMANDS, cli
from covplan.cli.options import spread_folds
from tests.paths import REPO_ROOT

# Converters choose their own --intensity values (each source has its own domains).
PER_CONVERTER_CHOICES = {"--intensity"}


def every_command() -> dict[str, click.Command]:
    """Every command by its command line, the converters of `covplan convert` included."""
    context = click.Context(cli)
    commands = {}
    for name in COMMANDS:
        command = cli.get_command(context, name)
        if isinstance(command, click.Group):
            group_context = click.Context(command, parent=context)
            commands |= {f"{name} {sub}": command.get_command(group_context, sub)
                         for sub in command.list_commands(group_context)}
        else:
            commands[name] = command
    return commands


def options(command: click.Command) -> list[click.Option]:
    return [param for param in command.params if isinstance(param, click.Option) and param.name != "help"]


def describe(option: click.Option, name: str) -> tuple:
    choices = tuple(option.type.choices) if isinstance(option.type, click.Choice) and name not in PER_CONVERTER_CHOICES \
        else None
    kind = "path" if isinstance(option.type, click.Path) else option.type.name  # file or folder: both paths
    return tuple(sorted(option.opts)), tuple(sorted(option.secondary_opts)), kind, choices


def test_an_option_name_means_one_thing_in_every_command():
    meanings: dict[str, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    for command_line, command in every_command().items():
        for option in options(command):
            for name in option.opts:
                meanings[name][describe(option, name)].append(command_line)
    differing = {name: dict(found) for name, found in meanings.items() if len(found) > 1}
    assert differing == {}


def test_the_shared_options_are_the_same_everywhere_they_appear():
    commands = every_command()
    short = {name: {tuple(sorted(option.opts)) for option in options(command) if option.opts[0].startswith("-")
                    and option.opts[0][1] != "-"} for name, command in commands.items()}
    for option_set in (("--folds", "-f"), ("--arch", "-a"), ("--configuration", "-c"), ("--num-processes", "-j")):
        users = [name for name, opts in short.items() if option_set in opts]
        assert len(users) >= 2, option_set
    for retired in ("--fold", "--archs", "--workers"):
        assert not [name for name, command in commands.items()
                    if any(retired in option.opts for option in options(command))], retired
    plan_folds = next(option for option in options(commands["plan"]) if "--num-folds" in option.opts)
    assert plan_folds.type.name == "integer range"


def test_folds_are_read_the_nnunet_way_too():
    assert spread_folds(["work", "-f", "0", "1", "all", "-a", "plain_unet"]) == \
        ["work", "-f", "0", "-f", "1", "-f", "all", "-a", "plain_unet"]
    assert spread_folds(["--folds", "0,1", "2", "-j", "1"]) == ["--folds", "0,1", "-f", "2", "-j", "1"]
    assert spread_folds(["-f", "0", "--", "1"]) == ["-f", "0", "--", "1"]
    result = CliRunner().invoke(cli, ["train", "no_such_work", "-a", "plain_unet", "-f", "0", "1", "x"])
    assert result.exit_code == 2 and "'no_such_work' does not exist" in result.output


def command_sections() -> dict[str, str]:
    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    parts = re.split(r"^## `covplan ([a-z-]+)", text, flags=re.MULTILINE)[1:]
    return dict(zip(parts[::2], parts[1::2]))


@pytest.mark.parametrize("command_line", list(every_command()))
def test_docs_cli_md_names_every_option_in_the_commands_section(command_line):
    section = command_sections()[command_line.split()[0]]
    missing = [option.opts for option in options(every_command()[command_line])
               if not any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", section)
                          for name in [*option.opts, *option.secondary_opts])]
    assert missing == []


@pytest.mark.parametrize("command_line", list(every_command()))
def test_help_shows_no_python_values(command_line):
    result = CliRunner().invoke(cli, [*command_line.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"[{\[]'", result.output), result.output
