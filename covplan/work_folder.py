"""The whole on-disk layout of a WORK folder, and of the model folders inside it.

A WORK folder mirrors an nnU-Net preprocessed dataset folder (``dataset.json``,
``dataset_fingerprint.json``, ``plans_<arch>.json``, ``splits_final.json``,
``gt_segmentations/``, one folder of preprocessed cases per ``data_identifier``), plus
covplan's records. Models go to ``WORK/<arch>__<configuration>/fold_F/`` with nnU-Net's
file names (``checkpoint_final.pth``, ``validation/summary.json``), so nnU-Net can read
them. This is the one module that spells these names: every stage asks it for a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Union

from covplan.errors import CovplanError
from covplan.json_files import read_json

Fold = Union[int, str]  # an index into splits_final.json, or "all"

# -- configurations: nnU-Net's
CASCADE = "3d_cascade_fullres"
CONFIGURATIONS = ("2d", "3d_fullres", "3d_lowres", CASCADE)
MAIN_CONFIGURATIONS = ("3d_fullres", "2d")  # the default configuration: the first one planned
# What the cascade's second stage needs planned and preprocessed beside it: its first stage,
# and 3d_fullres, whose plan and data it inherits (nnU-Net's planner links them so).
CASCADE_NEEDS = ("3d_lowres", "3d_fullres")

# -- WORK's own files
DATASET_JSON = "dataset.json"
FINGERPRINT_JSON = "dataset_fingerprint.json"
COVPLAN_DATASET_JSON = "covplan_dataset.json"
SPLITS_JSON = "splits_final.json"
WORK_RECORD_JSON = "covplan_work.json"  # which raw dataset (and its hash) WORK was planned for
GT_FOLDER = "gt_segmentations"
FIND_BEST_JSON = "find_best.json"
# WORK/compare/: what `covplan compare` writes by default beside the models it compares.
COMPARE_FOLDER = "compare"
COMPARE_JSON = "compare.json"
COMPARE_CSV = "compare.csv"
COMPARE_PNG = "compare.png"
# WORK/seeds/seed_S/: a WORK folder of links to WORK's plans and data in which
# `plan-and-train --repeats` trains the seeds after the first (the first trains in WORK).
SEEDS_FOLDER = "seeds"
_SEED_WORK = "seed_{seed}"
# WORK/pseudo_label_rounds/round_R/: `plan-and-train --unlabelled`'s round R, its
# pseudo-labelled raw dataset (dataset/) and the WORK folder trained on it (work/).
PSEUDO_LABEL_ROUNDS_FOLDER = "pseudo_label_rounds"
_ROUND = "round_{round}"
TUNE_FOLDER = "tune"
# WORK/init_from/<archive name>/: an archive given to --init-from, unpacked and verified once,
# so that every fold (a job on another node, a resumed run) reads the same source model.
INIT_FROM_FOLDER = "init_from"
JOBS_FOLDER = "jobs"
_PLANS_PREFIX = "plans_"
_BUDGET_RECORD = "budget_{architecture}.json"
# Preprocessed-data folders covplan names (planning's shared data identifiers start so).
DATA_FOLDER_PREFIX = "covplan_"

# -- a model folder's files (nnU-Net's names where nnU-Net has them)
MODEL_PLANS_JSON = "plans.json"
CV_SUMMARY_JSON = "cv_summary.json"
POSTPROCESSING_JSON = "postprocessing.json"
ENSEMBLES_FOLDER = "ensembles"  # WORK/ensembles/<model>+<model>/: what find-best chose for an ensemble
# Where a first stage writes its validation predictions for the next stage (nnU-Net's name).
NEXT_STAGE_FOLDER = "predicted_next_stage"
# The description files that make a model folder enough to predict.
MODEL_DESCRIPTION_FILES = (MODEL_PLANS_JSON, DATASET_JSON, COVPLAN_DATASET_JSON, FINGERPRINT_JSON)

# -- a fold folder's files
CHECKPOINT_FINAL = "checkpoint_final.pth"
CHECKPOINT_BEST = "checkpoint_best.pth"
CHECKPOINT_LATEST = "checkpoint_latest.pth"
CHECKPOINTS = {"final": CHECKPOINT_FINAL, "best": CHECKPOINT_BEST}
VALIDATION_FOLDER = "validation"
SUMMARY_JSON = "summary.json"
TRAINING_LOCK = "training.lock"
TRAINING_LOG_CSV = "training_log.csv"
PROGRESS_PNG = "progress.png"
FOLD_TIME_JSON = "fold_time.json"
# What a fold trained with --init-from loaded: the source model, its checksum, the tensors
# loaded and those left at their initialisation (covplan.training.init_from).
INIT_FROM_JSON = "init_from.json"
# The preprocessed files nnU-Net's preprocessor writes per case, by the data file's ending
# (nnunetv2's nnUNetDatasetBlosc2 and nnUNetDatasetNumpy).
CASE_FILES = {"b2nd": ("{}.b2nd", "{}_seg.b2nd", "{}.pkl"), "npz": ("{}.npz", "{}.pkl")}


def plans_path(work: Path, architecture: str) -> Path:
    """Where the plans of ``architecture`` live in ``work``."""
    return Path(work) / f"{_PLANS_PREFIX}{architecture}.json"


def plans_identifier(architecture: str) -> str:
    """The plans' name as nnU-Net knows it (its file name without ``.json``)."""
    return f"{_PLANS_PREFIX}{architecture}"


def planned_plans(work: Path) -> dict[str, Path]:
    """Every architecture planned in ``work``, with its plans file, by name."""
    return {path.stem.removeprefix(_PLANS_PREFIX): path for path in sorted(Path(work).glob(f"{_PLANS_PREFIX}*.json"))}


def budget_record_path(work: Path, architecture: str) -> Path:
    """What the time-budget planner measured and chose for ``architecture``."""
    return Path(work) / _BUDGET_RECORD.format(architecture=architecture)


def seed_work(work: Path, seed: int) -> Path:
    """The WORK folder of links in which the models of training seed ``seed`` are trained
    when it is not the first of a run's repeats."""
    return Path(work) / SEEDS_FOLDER / _SEED_WORK.format(seed=seed)


def seed_works(work: Path) -> dict[int, Path]:
    """Seed -> its WORK folder of links, for every seed trained as a repeat in ``work``."""
    found = {}
    for folder in sorted((Path(work) / SEEDS_FOLDER).glob(_SEED_WORK.format(seed="*"))):
        seed = folder.name.removeprefix(_SEED_WORK.format(seed=""))
        if folder.is_dir() and seed.lstrip("-").isdigit():
            found[int(seed)] = folder
    return dict(sorted(found.items()))


def pseudo_label_round(work: Path, round_number: int) -> tuple[Path, Path]:
    """The pseudo-labelled raw dataset of ``plan-and-train --unlabelled``'s round
    ``round_number`` (1, 2, ...) and the WORK folder its models are trained in."""
    folder = Path(work) / PSEUDO_LABEL_ROUNDS_FOLDER / _ROUND.format(round=round_number)
    return folder / "dataset", folder / "work"


def splits_path(work: Path) -> Path:
    return Path(work) / SPLITS_JSON


def gt_folder(work: Path) -> Path:
    """The training labels under their case names, as nnU-Net's preprocessing copies them."""
    return Path(work) / GT_FOLDER


# A model folder's name: "<architecture>__<configuration>".
MODEL_SEPARATOR = "__"


def model_folder_name(architecture: str, configuration: str) -> str:
    return f"{architecture}{MODEL_SEPARATOR}{configuration}"


def split_model_folder_name(name: str) -> tuple[str, str] | None:
    """``(architecture, configuration)`` of a model folder's name; None for another name."""
    architecture, separator, configuration = name.rpartition(MODEL_SEPARATOR)
    return (architecture, configuration) if separator and architecture and configuration else None


def init_from_archive_folder(work: Path, archive: Path) -> Path:
    """Where an archive given to --init-from is unpacked in ``work``."""
    return Path(work) / INIT_FROM_FOLDER / Path(archive).stem


def model_folder(work: Path, architecture: str, configuration: str) -> Path:
    return Path(work) / model_folder_name(architecture, configuration)


def fold_folder(model_folder: Path, fold: Fold) -> Path:
    return Path(model_folder) / f"fold_{fold}"


def numbered_fold_folders(model_folder: Path) -> dict[int, Path]:
    """Fold number -> ``fold_N`` folder, in order; ``fold_all`` (trained on every case, so
    it has no held-out validation) is no cross-validation fold and is left out."""
    folds = {}
    for folder in Path(model_folder).iterdir():
        number = folder.name.removeprefix("fold_")
        if folder.name.startswith("fold_") and number.isdigit() and folder.is_dir():
            folds[int(number)] = folder
    return dict(sorted(folds.items()))


def checkpoint_files(model_folder: Path) -> list[Path]:
    """Every checkpoint of every fold of ``model_folder``."""
    return sorted(Path(model_folder).glob("fold_*/checkpoint_*.pth"))


def next_stage_predictions(work: Path, architecture: str, first_stage: str, next_stage: str) -> Path:
    """A cascade's first-stage cross-validation predictions on the next stage's grid, where
    the first stage's training writes them (nnU-Net's ``folder_with_segs_from_previous_stage``)."""
    return model_folder(work, architecture, first_stage) / NEXT_STAGE_FOLDER / next_stage


def validation_folder(fold_folder: Path) -> Path:
    return Path(fold_folder) / VALIDATION_FOLDER


def validation_summary_path(fold_folder: Path) -> Path:
    return validation_folder(fold_folder) / SUMMARY_JSON


def with_cascade_stages(configurations: Sequence[str]) -> list[str]:
    """``configurations`` and, when the cascade is among them, the ones it needs."""
    configurations = list(configurations)
    if CASCADE not in configurations:
        return configurations
    return configurations + [name for name in CASCADE_NEEDS if name not in configurations]


def parse_fold(text: str) -> Fold:
    """``"all"`` or a fold index, as given on the command line."""
    if text == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise CovplanError(f"fold must be a number or 'all', not '{text}'") from None


def link_work(work: Path, folder: Path) -> None:
    """Make ``folder`` a WORK folder of links to ``work``'s plans, dataset description,
    splits, reference label maps and preprocessed data; what is trained there stays there."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {plan.get("data_identifier") for plans_file in planned_plans(work).values()
            for plan in read_json(plans_file, "plan again")["configurations"].values()}
    for entry in Path(work).iterdir():
        wanted = entry.suffix == ".json" or entry.name == GT_FOLDER or entry.name in data
        if wanted and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
