"""``python -m tests.nnunet_work ROOT``, the command docs/cli.md and docs/training.md show: the
tiny WORK folders ``ROOT/work3d`` and ``ROOT/work2d`` that nnunetv2's own pipeline plans and
preprocesses (:func:`tests.work_folders.build_preprocessed_works`)."""

import sys
from pathlib import Path

from tests.work_folders import run_preprocessed_works_build

if __name__ == "__main__":
    run_preprocessed_works_build(Path(sys.argv[1]))
