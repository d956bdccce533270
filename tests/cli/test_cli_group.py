import re
import subprocess
import sys

import click

from covplan.cli import COMMANDS, cli
from tests.paths import REPO_ROOT


def test_every_listed_command_loads_under_its_own_name():
    context = click.Context(cli)
    assert cli.list_commands(context) == list(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(context, "no-such-command") is None


def test_importing_the_cli_imports_no_command_module():
    # nnU-Net's spawned workers re-import the main script: it must stay light.
    code = ("import sys, covplan.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('covplan.cli.', 'covplan.inference', "
            "'covplan.reporting', 'matplotlib'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_docs_cli_md_documents_every_command_in_the_order_help_lists_them():
    headings = re.findall(r"^## `covplan ([a-z-]+)", (REPO_ROOT / "docs" / "cli.md").read_text(), re.MULTILINE)
    assert headings == list(COMMANDS)
