"""``preprocess``: run nnunetv2's preprocessor for the configurations planned in WORK.

Each configuration's data goes to ``WORK/<data_identifier>/`` exactly as
``nnUNetv2_preprocess`` writes it (one ``.b2nd`` pair and ``.pkl`` per case), and the
training labels to ``WORK/gt_segmentations/``. Configurations whose preprocessing is
equal share a data identifier (see :func:`covplan.planning.data_identifier.shared_data_identifier`)
and are preprocessed once; a data folder that exists is complete (folders are renamed
into place when done) and is kept unless ``overwrite``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from covplan.atomic import replace_directory, write_json_atomic
from covplan.errors import CovplanError
from covplan.fingerprinting import dataset_hash
from covplan.json_files import read_json
from covplan.nnunet_paths import nnunet_dataset_view, nnunet_prints_to_log
from covplan.nnunet_pools import nnunet_pools_die_with_parent
from covplan.work_folder import DATASET_JSON, WORK_RECORD_JSON, gt_folder, planned_plans, with_cascade_stages

logger = logging.getLogger(__name__)


def preprocess(work_dir: Path, architectures: Sequence[str] | None = None,
               configurations: Sequence[str] | None = None, num_processes: int = 2,
               overwrite: bool = False) -> dict[str, Path]:
    """Preprocess the training cases for the plans in ``work_dir`` (all plans files, or
    those of ``architectures``; all configurations, or ``configurations``). Returns the
    data folder of each data identifier."""
    work_dir = Path(work_dir)
    dataset_dir = planned_dataset_dir(work_dir)
    jobs = _preprocessing_jobs(work_dir, architectures, configurations)
    data_folders = {identifier: work_dir / identifier for identifier in jobs}
    pending = {identifier: job for identifier, job in jobs.items()
               if overwrite or not data_folders[identifier].is_dir()}
    for identifier in sorted(set(jobs) - set(pending)):
        logger.info("%s exists; kept (use overwrite to redo it)", data_folders[identifier])
    with nnunet_dataset_view(dataset_dir, work_dir) as view, nnunet_pools_die_with_parent():
        shutil.copyfile(work_dir / DATASET_JSON, view.preprocessed_folder / DATASET_JSON)
        for identifier, (plans, configuration) in pending.items():
            from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

            logger.info("preprocessing %s of %s into %s", configuration, plans["plans_name"], identifier)
            write_json_atomic(view.preprocessed_folder / f"{plans['plans_name']}.json", plans)
            preprocessor_class = PlansManager(plans).get_configuration(configuration).preprocessor_class
            with nnunet_prints_to_log(logger, f"preprocessor for {identifier}"):
                preprocessor_class(verbose=False).run(view.dataset_name, configuration, plans["plans_name"],
                                                      num_processes)
            replace_directory(view.preprocessed_folder / identifier, data_folders[identifier])
        if overwrite or not gt_folder(work_dir).is_dir():
            _copy_ground_truth(dataset_dir, gt_folder(view.preprocessed_folder))
            replace_directory(gt_folder(view.preprocessed_folder), gt_folder(work_dir))
    return data_folders


def planned_dataset_dir(work_dir: Path) -> Path:
    """The raw dataset ``work_dir`` was planned for, checked to be unchanged since."""
    record_file = work_dir / WORK_RECORD_JSON
    if not record_file.is_file():
        raise CovplanError(f"{work_dir} has no {WORK_RECORD_JSON}; run `covplan plan DATASET_DIR -o {work_dir}` first")
    record = read_json(record_file, "plan again into a new folder")
    dataset_dir = Path(record["dataset_dir"])
    if not (dataset_dir / DATASET_JSON).is_file():
        raise CovplanError(f"the dataset {dataset_dir} that {work_dir} was planned for is gone; restore it or plan "
                           f"again into a new folder")
    if dataset_hash(dataset_dir) != record["dataset_hash"]:
        raise CovplanError(f"{dataset_dir} changed since {work_dir} was planned; plan again into a new folder")
    return dataset_dir


def _preprocessing_jobs(work_dir: Path, architectures: Sequence[str] | None,
                        configurations: Sequence[str] | None) -> dict[str, tuple[dict[str, Any], str]]:
    """The plans and configuration to preprocess for each data identifier."""
    planned = planned_plans(work_dir)
    missing = sorted(set(architectures or ()) - set(planned))
    if missing:
        raise CovplanError(f"{work_dir} has no plans for {', '.join(missing)}; planned: "
                           f"{', '.join(planned) or 'none'} (run `covplan plan ... --arch NAME`)")
    configurations = with_cascade_stages(configurations) if configurations else None
    jobs: dict[str, tuple[dict[str, Any], str]] = {}
    for name in architectures or planned:
        plans = read_json(planned[name], "plan again")
        for configuration, plan in plans["configurations"].items():
            if "data_identifier" not in plan or (configurations and configuration not in configurations):
                continue  # a configuration that inherits its data (nnU-Net's cascade)
            jobs.setdefault(plan["data_identifier"], (plans, configuration))
    if not jobs:
        raise CovplanError(f"none of the plans in {work_dir} has configuration {', '.join(configurations or ())}")
    return jobs


def _copy_ground_truth(dataset_dir: Path, target: Path) -> None:
    """The training labels under their case names, as nnunetv2's preprocessing copies them."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    dataset_json = read_json(dataset_dir / DATASET_JSON, "restore the dataset or plan again")
    target.mkdir(parents=True)
    for case, files in get_filenames_of_train_images_and_targets(str(dataset_dir), dataset_json).items():
        shutil.copyfile(files["label"], target / f"{case}{dataset_json['file_ending']}")
