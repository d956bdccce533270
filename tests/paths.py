"""Where the tests find the repository and the shared real data; test modules import these
names from here, never from a conftest."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real masks and slices beside the checkout; tests that read them skip where it is absent.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
