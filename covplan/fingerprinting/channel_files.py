"""One file per channel for every training case, checked before nnunetv2's integrity check:
nnunetv2 finds a wrong count in worker processes that print it, and raises "check text
output above", which names neither the case nor the counts."""

from __future__ import annotations

from pathlib import Path

from covplan.errors import CovplanError
from covplan.json_files import read_json
from covplan.work_folder import DATASET_JSON


def check_channel_files(dataset_dir: Path) -> None:
    """Refuse, naming the case's first file and both counts, a case whose channel files
    (``<case>_0000``, ``<case>_0001``, ...) are not as many as dataset.json's ``channel_names``."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    dataset_json = read_json(dataset_dir / DATASET_JSON, "write the dataset's dataset.json")
    channels = list(dataset_json["channel_names"].values())
    ending = dataset_json["file_ending"]
    for case, files in get_filenames_of_train_images_and_targets(str(dataset_dir), dataset_json).items():
        images = files["images"]
        if len(images) != len(channels):
            expected = f"{case}_0000{ending}" + (f" to {case}_{len(channels) - 1:04d}{ending}" if len(channels) > 1
                                                 else "")
            found = ", ".join(Path(path).name for path in images) or "none"
            raise CovplanError(f"{Path(images[0]) if images else Path(files['label'])}: case {case} has "
                               f"{len(images)} channel file(s) ({found}), but {dataset_dir / DATASET_JSON} names "
                               f"{len(channels)} channel(s) ({', '.join(channels)}); give each case one file per "
                               f"channel ({expected}) or correct channel_names")
