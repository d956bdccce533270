"""The synthetic work folder of docs/examples/tiny_work.py (the `covplan find-best` example),
loaded for the tests."""

import importlib.util

from tests.conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location("tiny_work", REPO_ROOT / "docs" / "examples" / "tiny_work.py")
tiny_work = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_work)

CASES, DATASET_JSON = tiny_work.CASES, tiny_work.DATASET_JSON
build_work_folder = tiny_work.build_work_folder
good_prediction, reference = tiny_work.good_prediction, tiny_work.reference
