"""Integrity check and fingerprint of a raw dataset, by nnunetv2's own code.

The fingerprint (per case spacing and shape after cropping to non-zero, foreground
intensity statistics) is nnunetv2's ``DatasetFingerprintExtractor`` run on the dataset
through :func:`covplan.nnunet_paths.nnunet_dataset_view`, so it is byte for byte what
``nnUNetv2_extract_fingerprint`` writes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.fingerprinting.channel_files import check_channel_files
from covplan.fingerprinting.voxel_values import refuse_non_finite_voxels
from covplan.json_files import read_json
from covplan.nnunet_paths import nnunet_dataset_view, nnunet_prints_to_log
from covplan.nnunet_pools import nnunet_pools_die_with_parent
from covplan.work_folder import DATASET_JSON, FINGERPRINT_JSON

logger = logging.getLogger(__name__)

HASHED_FOLDERS = ("imagesTr", "labelsTr")


def verify_dataset(dataset_dir: Path, num_processes: int = 2) -> None:
    """Run nnunetv2's integrity check (files, labels, geometry) on a raw dataset, then
    covplan's for NaN and infinite voxels (:mod:`covplan.fingerprinting.voxel_values`); a
    failure becomes one :class:`CovplanError` line naming the dataset or the file."""
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    try:
        check_channel_files(dataset_dir)
        with nnunet_pools_die_with_parent(), nnunet_prints_to_log(logger, "integrity check"):
            verify_dataset_integrity(str(dataset_dir), num_processes)
    except (AssertionError, RuntimeError, FileNotFoundError, KeyError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CovplanError(f"{dataset_dir} fails nnU-Net's dataset integrity check: {reason}") from error
    refuse_non_finite_voxels(dataset_dir)


def extract_fingerprint(dataset_dir: Path, work_dir: Path, num_processes: int = 2) -> dict[str, Any]:
    """The dataset fingerprint in nnU-Net's schema (``spacings``, ``shapes_after_crop``,
    ``foreground_intensity_properties_per_channel``, ``median_relative_size_after_cropping``),
    computed with ``num_processes`` workers. Nothing is written to ``work_dir`` but a
    staging folder that is removed again."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    with nnunet_dataset_view(dataset_dir, work_dir) as view, nnunet_pools_die_with_parent(), \
            nnunet_prints_to_log(logger, "fingerprint extractor"):
        extractor = DatasetFingerprintExtractor(view.dataset_name, num_processes, verbose=False)
        extractor.run(overwrite_existing=True)
        # Read back what nnunetv2 saved: its JSON export turns numpy values into plain ones.
        return read_json(view.preprocessed_folder / FINGERPRINT_JSON, "run the fingerprint again")


def dataset_hash(dataset_dir: Path) -> str:
    """A digest of ``dataset.json`` and the names and sizes of the training images and
    labels: it changes when cases are added, removed or replaced, and tells one dataset's
    WORK folder from another's without reading every voxel."""
    digest = hashlib.sha256((dataset_dir / DATASET_JSON).read_bytes())
    for folder in HASHED_FOLDERS:
        for path in sorted((dataset_dir / folder).glob("*")):
            if path.is_file() and not path.name.startswith("."):
                digest.update(f"{folder}/{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()
