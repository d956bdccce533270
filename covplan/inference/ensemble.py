"""``covplan ensemble`` as a function: average the probabilities that several ``covplan
predict --save-probabilities`` runs saved (nnU-Net's ``nnUNetv2_ensemble``) and write the
label maps in each case's own format."""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.inference.outputs import (
    label_file,
    probability_files,
    read_probabilities,
    write_label_map,
    write_probabilities,
)
from covplan.json_files import read_json
from covplan.output_folder import refuse_overlap
from covplan.work_folder import DATASET_JSON

logger = logging.getLogger(__name__)


def _dataset_json(folder: Path) -> dict:
    path = folder / DATASET_JSON
    return read_json(path, "give folders that `covplan predict --save-probabilities` wrote")


def ensemble_folders(input_folders: list[Path], output_dir: Path, save_probabilities: bool = False,
                     overwrite: bool = False) -> list[str]:
    """Average ``<case>.npz`` over ``input_folders`` for every case they all hold and write
    ``<case>`` label maps (and the mean probabilities on request) to ``output_dir``;
    returns the cases written. Existing label maps are kept without ``overwrite``."""
    from nnunetv2.ensembling.ensemble import average_probabilities
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    if len(input_folders) < 2:
        raise CovplanError("give at least two prediction folders (-i DIR1 -i DIR2)")
    refuse_overlap(Path(output_dir), input_folders)
    dataset_json = _dataset_json(input_folders[0])
    for folder in input_folders[1:]:
        if _dataset_json(folder)["labels"] != dataset_json["labels"]:
            raise CovplanError(f"{folder} holds other labels than {input_folders[0]}; ensemble predictions of "
                               f"models with the same labels")
    cases_per_folder = [_complete_cases(folder) for folder in input_folders]
    cases = sorted(set.union(*cases_per_folder))
    for folder, found in zip(input_folders, cases_per_folder):
        missing = sorted(set(cases) - found)
        if missing:
            raise CovplanError(f"{folder}: no probabilities for {', '.join(missing[:5])}; predict them with "
                               f"--save-probabilities or leave the folder out")
    if not cases:
        raise CovplanError(f"{input_folders[0]}: no <case>.npz; predict with --save-probabilities first")
    labels = LabelManager(dataset_json["labels"], dataset_json.get("regions_class_order"))
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / DATASET_JSON, dataset_json)
    written = []
    for case_id in tqdm(cases, desc="ensembling", unit="case"):
        properties, output_format = read_probabilities(input_folders[0], case_id)
        target = label_file(output_dir, case_id, output_format)
        if target.exists() and not overwrite:
            logger.warning("%s exists; kept (pass --overwrite to replace it)", target)
            continue
        try:
            probabilities = average_probabilities([str(folder / f"{case_id}.npz") for folder in input_folders])
        except ValueError as error:  # numpy cannot add arrays of different shapes
            raise CovplanError(f"{case_id}.npz differs in shape between the folders ({error}); ensemble "
                               f"predictions of the same inputs") from error
        if save_probabilities:
            write_probabilities(probabilities, properties, output_dir, case_id, output_format)
        write_label_map(labels.convert_probabilities_to_segmentation(probabilities), properties, target, output_format)
        written.append(case_id)
    return written


def _complete_cases(folder: Path) -> set[str]:
    """The cases of ``folder`` with both ``<case>.npz`` and ``<case>.pkl``: a predict killed
    between writing the two leaves a case that is not there yet."""
    cases = {path.name[:-len(".npz")] for path in folder.glob("*.npz")}
    return {case for case in cases if probability_files(folder, case)[1].is_file()}
