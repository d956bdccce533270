"""``covplan report``: the clinical report of a prediction folder."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from covplan.errors import CovplanError
from covplan.labels.roles import find_dataset_json, load_dataset_json
from covplan.reporting.report import build_report
from covplan.work_folder import COVPLAN_DATASET_JSON

logger = logging.getLogger(__name__)

AUTO, NONE = "auto", "none"  # the --lung-masks values that are not a folder


@click.command(name="report")
@click.argument("pred_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Report folder to create (report.csv, report.json, report.html, overlays/).")
@click.option("--images", type=click.Path(exists=True, path_type=Path),
              help="Image file or folder the predictions were made from (CASE.ext or CASE_0000.ext), "
                   "drawn under the masks [default: masks over black].")
@click.option("--dataset-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="nnU-Net dataset.json naming the labels [default: found in or beside PRED_DIR "
                   "or beside --images].")
@click.option("--covplan-dataset-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="covplan_dataset.json with the patient of each case and source severity grades "
                   "[default: beside the dataset.json; without it every case is its own patient].")
@click.option("--lung-masks", default=AUTO, show_default=True, metavar="auto|none|DIR",
              help="Lungs for models without a lung label: auto derives them from --images (HU or intensity "
                   "thresholds, see docs/report.md), DIR is a folder of lung masks (non-zero = lung, same case "
                   "names), none leaves lung, shares and grade unknown.")
@click.option("--overwrite", is_flag=True,
              help="Replace a report folder an earlier `covplan report` wrote (only once the new one is complete); a "
                   "folder holding anything else is refused.")
@click.option("--keep-identifiers", is_flag=True,
              help="Copy the patient and study identifiers of DICOM-SEG predictions (PatientID, PatientName, "
                   "StudyInstanceUID, dates) into the report and group cases by PatientID [default: a "
                   "pseudonymous report naming cases by file name].")
def report_command(pred_dir: Path, output_dir: Path, images: Path | None, dataset_json: Path | None,
                   covplan_dataset_json: Path | None, lung_masks: str, overwrite: bool, keep_identifiers: bool) -> None:
    """Write a per-patient report of predicted lung and lesion masks: lung volume (ml)
    or area (mm² for slices), each lesion type's amount and share of the lung, the
    infection share, a severity grade and positive/negative.

    Outputs report.csv, report.json, one overlay PNG per case (volumes: the axial slice
    with the largest lesion area), severity_by_grade.png when the source data carries
    severity grades, and report.html with everything embedded: a patients overview and
    a viewer per case (every slice, masks and uncertainty as layers, lung and mediastinal
    windows) that works offline. See docs/report.md.

    \b
    Example:
        covplan report predictions/ --images raw/Dataset001_Covid/imagesTs -o report/
        covplan report slice_predictions/ --dataset-json raw/Dataset002_Slices/dataset.json -o report/
        covplan report slice_predictions/ --images slices/ --lung-masks auto -o report/
        covplan report dicom_predictions/ --keep-identifiers -o report/   # *.seg.dcm
    """
    lung_mask_dir = None if lung_masks in (AUTO, NONE) else Path(lung_masks)
    if lung_mask_dir is not None and not lung_mask_dir.is_dir():
        raise click.BadParameter(f"{lung_mask_dir} is not a folder; give auto, none or a folder of lung masks",
                                 param_hint="--lung-masks")
    dataset_json = dataset_json or find_dataset_json(*[folder for folder in (pred_dir, images) if folder is not None])
    if dataset_json is None:
        raise CovplanError(f"{pred_dir}: no dataset.json in or beside it; give --dataset-json to name the labels")
    if covplan_dataset_json is None and (dataset_json.parent / COVPLAN_DATASET_JSON).is_file():
        covplan_dataset_json = dataset_json.parent / COVPLAN_DATASET_JSON
    logger.info("labels from %s, patients from %s", dataset_json, covplan_dataset_json)
    report = build_report(pred_dir, output_dir, load_dataset_json(dataset_json), images=images,
                          covplan_dataset=load_dataset_json(covplan_dataset_json) if covplan_dataset_json else None,
                          lung_mask_dir=lung_mask_dir, overwrite=overwrite, derive_lungs=lung_masks == AUTO,
                          keep_identifiers=keep_identifiers)
    positive = sum(row["result"] == "positive" for row in report["patients"])
    click.echo(f"{len(report['patients'])} patient(s), {positive} positive; report in {output_dir / 'report.html'}")
