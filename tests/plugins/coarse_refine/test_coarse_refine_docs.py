"""The example of docs/architectures/coarse_refine.md runs and prints what the page says."""

import contextlib
import io
import re

from tests.paths import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "architectures" / "coarse_refine.md"


def test_example_prints_what_the_page_shows():
    text = PAGE.read_text()
    example = re.search(r"## Example\n\n```python\n(.*?)```", text, re.S).group(1)
    shown = re.search(r"prints\n\n```console\n(.*?)```", text, re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, str(PAGE), "exec"), {})
    assert printed.getvalue() == shown
