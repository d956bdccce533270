"""``covplan evaluate``: segmentation metrics of a prediction folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from nnunetv2.evaluation.evaluate_predictions import label_or_region_to_key

from covplan.cli.options import num_processes_option
from covplan.errors import CovplanError
from covplan.evaluation import DEFAULT_PROCESSES, MetricOptions, evaluate_folder
from covplan.evaluation.boundary import DEFAULT_SURFACE_TOLERANCE_MM
from covplan.evaluation.lesions import DEFAULT_MIN_LESION_OVERLAP
from covplan.labels.roles import find_dataset_json, load_dataset_json, parse_region
from covplan.work_folder import SUMMARY_JSON

logger = logging.getLogger(__name__)


def _parse_regions(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, tuple[int, ...]] | None:
    if not values:
        return None
    try:
        return dict(parse_region(value) for value in values)
    except CovplanError as error:
        raise click.BadParameter(str(error)) from error


def _parse_labels(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[int] | None:
    try:
        labels = [int(label) for value in values for label in value.split(",") if label.strip()]
    except ValueError as error:
        raise click.BadParameter(f"label values are integers, e.g. --labels 1,2,3 ({error})") from error
    return labels or None


# Column heading and summary key of the printed table; columns whose metric was not computed are left out.
PRINTED_COLUMNS = (("Dice", "Dice"), ("IoU", "IoU"), ("Sens", "Sensitivity"), ("Spec", "Specificity"),
                   ("Prec", "Precision"), ("HD95", "HD95"), ("NSD", "NSD"), ("LesF1", "LesionF1"))


def echo_means(summary: dict[str, Any]) -> None:
    """The table of mean metrics per class and over the foreground of an evaluation summary."""
    columns = [(heading, key) for heading, key in PRINTED_COLUMNS if key in summary["foreground_mean"]]
    rows = [(summary["names"].get(label_or_region_to_key(key), str(key)), means) for key, means in summary["mean"].items()]
    rows.append(("foreground mean", summary["foreground_mean"]))
    cells = [[("n/a" if means[key] is None else format(means[key], ".4f")) for _, key in columns] for _, means in rows]
    # Eight characters a column, wider where a value needs it (HD95 in mm can reach 174.1501),
    # always with a space before the value.
    widths = [max(8, 1 + max(len(row[index]) for row in cells)) for index in range(len(columns))]
    click.echo(f"{'class':<24}" + "".join(f"{heading:>{width}}" for (heading, _), width in zip(columns, widths)))
    for (name, _), row in zip(rows, cells):
        click.echo(f"{name:<24}" + "".join(f"{value:>{width}}" for value, width in zip(row, widths)))


@click.command(name="evaluate")
@click.argument("gt_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("pred_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write summary.json [default: PRED_DIR/summary.json].")
@click.option("--labels", multiple=True, callback=_parse_labels, metavar="L1,L2",
              help="Label values to evaluate, comma-separated or repeated "
                   "[default: the foreground labels of dataset.json].")
@click.option("--regions", multiple=True, callback=_parse_regions, metavar="NAME=L1,L2",
              help="A merged region, e.g. lungs=1,2; repeat for several "
                   "[default: lungs and infection found from the label names of dataset.json].")
@click.option("--dataset-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="nnU-Net dataset.json with label names and file ending "
                   "[default: found in or beside PRED_DIR or GT_DIR].")
@click.option("--allow-missing", is_flag=True,
              help="Evaluate only the predicted cases when GT_DIR holds more (e.g. one cross-validation fold).")
@click.option("--surface-tolerance", type=click.FloatRange(min=0), default=DEFAULT_SURFACE_TOLERANCE_MM,
              show_default=True, help="Tolerance in mm of the normalised surface Dice (NSD).")
@click.option("--boundary/--no-boundary", default=True, show_default=True,
              help="Compute HD95 and NSD (the slowest metrics: about 3 s per lung class on a 512x512x133 CT).")
@click.option("--lesions/--no-lesions", default=True, show_default=True,
              help="Compute lesion counts, lesion detection sensitivity, precision and F1, and volume errors.")
@click.option("--lesion-overlap", type=click.FloatRange(min=0, max=1, max_open=True),
              default=DEFAULT_MIN_LESION_OVERLAP, show_default=True,
              help="Share of a lesion that must be covered for it to count as found (0 = any overlap).")
@num_processes_option("Processes reading and scoring cases in parallel.", default=DEFAULT_PROCESSES)
def evaluate_command(gt_dir: Path, pred_dir: Path, output_file: Path | None, labels: list[int] | None,
                     regions: dict[str, tuple[int, ...]] | None, dataset_json: Path | None, allow_missing: bool,
                     surface_tolerance: float, boundary: bool, lesions: bool, lesion_overlap: float,
                     num_processes: int) -> None:
    """Score predicted label maps against references (Dice, IoU, sensitivity,
    specificity, precision, HD95, surface Dice, lesion-wise detection and volume error per
    class, per merged region and per case).

    Each file in PRED_DIR is compared with the file of the same name in GT_DIR. The
    result is nnU-Net's summary.json with the extra metrics; a table of the means is
    printed. Distances and volumes are in mm from the image spacing. Empty masks make a
    metric undefined (null), never NaN; see docs/evaluation.md.

    \b
    Example:
        covplan evaluate raw/Dataset001_Covid/labelsTr work/fold_0/validation
        covplan evaluate gt/ pred/ --labels 1,2,3 --regions lungs=1,2 --regions infection=3 \\
            --surface-tolerance 2 --lesion-overlap 0.1 -o summary.json
    """
    dataset_json = dataset_json or find_dataset_json(pred_dir, gt_dir)
    if dataset_json is not None:
        logger.info("label names and file ending from %s", dataset_json)
    summary = evaluate_folder(gt_dir, pred_dir, output_file or pred_dir / SUMMARY_JSON,
                              labels=labels, regions=regions,
                              dataset_json=load_dataset_json(dataset_json) if dataset_json is not None else None,
                              num_processes=num_processes, allow_missing_predictions=allow_missing,
                              options=MetricOptions(boundary=boundary, surface_tolerance_mm=surface_tolerance,
                                                    lesions=lesions, min_lesion_overlap=lesion_overlap))
    echo_means(summary)
