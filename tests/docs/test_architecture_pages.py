"""The examples of the architecture and loss pages run as written."""

import re

import pytest

from tests.paths import REPO_ROOT

PAGES = ["docs/architectures/plain_unet.md", "docs/architectures/qchc_unet.md", "docs/losses.md"]


def python_blocks(page: str) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", (REPO_ROOT / page).read_text(), flags=re.DOTALL))


@pytest.mark.parametrize("page", PAGES)
def test_example_runs(page, capsys):
    code = python_blocks(page)
    assert code, f"{page} has no python example"
    exec(compile(code, page, "exec"), {})
    assert capsys.readouterr().out.strip()
