"""Point nnunetv2's dataset-level classes at an arbitrary dataset folder.

nnunetv2 finds a dataset only as ``$nnUNet_raw/DatasetXXX_Name`` and writes only to
``$nnUNet_preprocessed/DatasetXXX_Name``; it reads those two variables once, at import
time, into the namespace of every module that uses them. covplan takes any folder in
nnU-Net's raw layout and writes to a WORK folder of the user's choice, so rather than
copying nnunetv2's classes it stages a view for the duration of one call: a temporary
``raw/Dataset999_covplan`` link to the dataset and a temporary ``preprocessed/Dataset999_covplan``
folder inside WORK (same filesystem, so finished outputs are renamed into place), and
sets the two variables in the modules whose classes covplan calls. The environment
variables are set too, so nnunetv2's spawned workers import it without warnings.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

VIEW_DATASET_NAME = "Dataset999_covplan"

# The nnunetv2 modules covplan calls into that read nnUNet_raw / nnUNet_preprocessed.
PATCHED_MODULES = (
    "nnunetv2.paths",
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.experiment_planning.experiment_planners.default_experiment_planner",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
)
PATH_VARIABLES = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


@dataclass(frozen=True)
class NnunetView:
    """A dataset as nnunetv2 sees it inside :func:`nnunet_dataset_view`."""

    dataset_name: str
    raw_folder: Path
    preprocessed_folder: Path


@contextmanager
def nnunet_dataset_view(dataset_dir: Path, work_dir: Path) -> Iterator[NnunetView]:
    """Within this context nnunetv2 finds ``dataset_dir`` as ``Dataset999_covplan`` and
    writes its outputs into a staging folder inside ``work_dir``, deleted on exit (move
    what you keep out of ``view.preprocessed_folder`` before leaving)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".covplan-staging-", dir=work_dir))
    raw_root, preprocessed_root, results_root = staging / "raw", staging / "preprocessed", staging / "results"
    view = NnunetView(VIEW_DATASET_NAME, raw_root / VIEW_DATASET_NAME, preprocessed_root / VIEW_DATASET_NAME)
    raw_root.mkdir()
    view.preprocessed_folder.mkdir(parents=True)
    results_root.mkdir()
    view.raw_folder.symlink_to(dataset_dir.resolve(), target_is_directory=True)
    values = dict(zip(PATH_VARIABLES, (str(raw_root), str(preprocessed_root), str(results_root))))
    saved_modules = {}
    saved_environment = {name: os.environ.get(name) for name in PATH_VARIABLES}
    try:
        for module_name in PATCHED_MODULES:
            module = importlib.import_module(module_name)
            saved_modules[module_name] = {name: getattr(module, name) for name in PATH_VARIABLES if hasattr(module, name)}
            for name in saved_modules[module_name]:
                setattr(module, name, values[name])
        os.environ.update(values)
        yield view
    finally:
        for module_name, saved in saved_modules.items():
            module = importlib.import_module(module_name)
            for name, value in saved.items():
                setattr(module, name, value)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def nnunet_prints_to_log(logger: logging.Logger, what: str) -> Iterator[None]:
    """Send what nnunetv2 prints to stdout (its plans, reader choice, integrity banner)
    to ``logger`` at debug level, so covplan's own output stays readable; it is logged
    even when the call fails."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        if printed.getvalue().strip():
            logger.debug("nnunetv2's %s printed:\n%s", what, printed.getvalue())
