"""Learning from few labels, at equal minutes: fine-tuning from a trained model, and
pseudo-labelling unlabelled images, each against training on the labelled cases alone.

``--experiment finetune`` (phantoms, where the answer is known): the source is
``--source-cases`` COVID-SemiSeg-like phantom slices (``covplan demo-data --kind semiseg``,
one seed) trained on every case (fold ``all``, as nnU-Net pretrains) for
``--source-minutes``. The target: ``--target-cases`` phantoms of another seed (the few
labelled cases), split into ``PHANTOM_SPLITS`` folds. Both arms train the same folds of the
target with the same seeds, the same plans (the source's, moved to the target: the
comparison isolates the initial weights) and the same ``--time-budget`` per fold; one starts
from the source (``--init-from``), one from random weights. The minutes spent training the
source are not charged to the fine-tuned arm: the source stands for a model someone else
trained.

``--experiment pseudo`` (phantoms): ``--labelled-cases`` phantoms of the target seed (the
same cases and folds as the fine-tuning target) and ``--unlabelled-cases`` more of that seed
written without their masks. ``--experiment real``: the 50 real COVID-SemiSeg slices (slices
converter, 5 folds) with the 20 NY-SBU DICOM slices and ``--lidc-slices`` axial slices of
the LIDC CT as the unlabelled images. In both, one arm is ``plan-and-train --time-budget B``
on the labelled cases; the other is what a user runs to learn from the unlabelled ones,
``plan-and-train --unlabelled DIR --rounds 1 --time-budget B``, which gives each of its two
trainings B/2 (``covplan.workflows.pseudo_label_rounds``). It runs once per fold (``--folds
F``), so that the fold's pseudo-labels come from that fold's first model only, which never
saw the fold's validation cases (a run over every fold pseudo-labels with the ensemble of
all folds, whose other members trained on them). Pseudo-labelled cases are in no
validation fold: both arms are scored on the same drawn labels (checked).

Every table gives Dice per class (mean +- standard deviation over seeds and folds), the
training minutes and the wall minutes (with planning, its throughput probes, validation and
pseudo-labelling) per fold; the pseudo-labelling arm adds the entropy threshold chosen and
the share of the pseudo-labelled voxels marked ignore. Tables are appended to
docs/benchmarks.md.

    python benchmarks/bench_few_labels.py --experiment finetune --budgets 2 5 --folds 0 1 2 --seeds 1 2 3
    python benchmarks/bench_few_labels.py --experiment pseudo --budgets 2 --folds 0 1 2 --seeds 1
    python benchmarks/bench_few_labels.py --experiment real --budgets 6 --folds 0 --seeds 1
    python benchmarks/bench_few_labels.py --experiment pseudo --quick   # each experiment: proves the harness
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import time
from pathlib import Path

from bench_budget import CLASSES, fold_class_dice, mean_and_spread, plan_text
from common import LIDC_CT, SHARED_DATA, markdown_table, record, resolve_device, run_in_scratch_folder

PHANTOM_SPLITS = 3
SOURCE_SEED, TARGET_SEED = 11, 23  # other phantoms: other shapes, positions and lesions
ARCHITECTURE, CONFIGURATION = "plain_unet", "2d"
LABELLED_ONLY, WITH_UNLABELLED = "labelled only", "+ pseudo-labelled (--unlabelled --rounds 1)"
NY_SBU = SHARED_DATA / "covid_ny_sbu_axial"
# An axial LIDC slice is taken where its lung (HU -950..-500) covers at least this share of
# the largest lung area of the volume: slices through the lungs, as the labelled ones are.
LUNG_HU = (-950, -500)
LUNG_AREA_SHARE = 0.5
DEFAULTS = {  # experiment -> (budgets, folds, seeds)
    "finetune": ([2.0, 5.0], [0, 1, 2], [1, 2, 3]),
    "pseudo": ([2.0], [0, 1, 2], [1]),
    "real": ([6.0], [0], [1]),  # B/2 must fit the probe, a step and the validation of 512-pixel slices on CPU
}
QUICK_SHRINK = 3
QUICK = {"finetune": "a 1-minute source of 24 cases, one 1-minute budget, fold 0, seed 1",
         "pseudo": "6 labelled and 12 unlabelled phantoms, one 1-minute budget, fold 0, seed 1",
         "real": f"the labelled slices shrunk {QUICK_SHRINK} times a side (a real size does not fit a training step "
                 f"in minutes on CPU), 2 NY-SBU and 1 LIDC slices (a model of small patches predicts a "
                 f"full-size slice in minutes), one 3-minute budget, fold 0, seed 1"}
logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=tuple(DEFAULTS), default="finetune",
                        help="finetune: --init-from vs random weights (phantoms); pseudo: pseudo-labelling vs "
                             "labelled only (phantoms); real: pseudo-labelling vs labelled only (real slices).")
    parser.add_argument("--budgets", type=float, nargs="+", help="Minutes per fold (default per experiment).")
    parser.add_argument("--folds", type=int, nargs="+", help="Folds of the split (default per experiment).")
    parser.add_argument("--seeds", type=int, nargs="+", help="Training seeds (default per experiment).")
    parser.add_argument("--size", type=int, default=64, help="Pixels a side of every phantom slice.")
    parser.add_argument("--source-cases", type=int, default=40, help="finetune: phantom slices of the source model.")
    parser.add_argument("--source-minutes", type=float, default=10.0, help="finetune: minutes to train the source.")
    parser.add_argument("--target-cases", type=int, default=9, help="finetune: labelled phantom slices of the target.")
    parser.add_argument("--labelled-cases", type=int, default=9, help="pseudo: labelled phantom slices.")
    parser.add_argument("--unlabelled-cases", type=int, default=36, help="pseudo: phantom slices without masks.")
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="real: COVID-SemiSeg training slices (Imgs/, GT/).")
    parser.add_argument("--ny-sbu-slices", type=int, default=20, help="real: NY-SBU slices among the unlabelled.")
    parser.add_argument("--lidc-slices", type=int, default=20, help="real: axial LIDC slices among the unlabelled.")
    parser.add_argument("--target-precision", type=float, default=0.95,
                        help="pseudo, real: plan-and-train --target-precision (the threshold's rule).")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="Where to train.")
    parser.add_argument("--workers", type=int, default=1, help="Augmentation workers.")
    parser.add_argument("--quick", action="store_true",
                        help="Proves the experiment's harness in a few minutes: " + "; ".join(
                            f"{name}: {text}" for name, text in QUICK.items()) + ".")
    arguments = parser.parse_args()
    budgets, folds, seeds = DEFAULTS[arguments.experiment]
    if arguments.quick:
        budgets, folds, seeds = [3.0 if arguments.experiment == "real" else 1.0], [0], [1]
        arguments.source_cases, arguments.source_minutes = 24, 1.0
        arguments.labelled_cases, arguments.unlabelled_cases = 6, 12
        arguments.ny_sbu_slices, arguments.lidc_slices = 2, 1
    arguments.budgets = arguments.budgets or budgets
    arguments.folds = arguments.folds if arguments.folds is not None else folds
    arguments.seeds = arguments.seeds or seeds
    if arguments.experiment == "real":
        missing = [path for path in (arguments.slices_dir / "Imgs", NY_SBU, LIDC_CT) if not path.exists()]
        if missing:
            print(f"bench_few_labels --experiment real skipped: {missing[0]} is missing (the real data of "
                  f"../shared/data; pass --slices-dir for the labelled slices)")
            return
    experiment = {"finetune": run_finetune, "pseudo": run_pseudo_phantoms, "real": run_real}[arguments.experiment]
    run_in_scratch_folder("covplan-few-labels-", lambda root: experiment(arguments, root), arguments.workers)


def phantoms(root: Path, name: str, num_cases: int, size: int, seed: int) -> Path:
    """``num_cases`` semiseg phantom slices of ``seed``, converted by the slices converter."""
    from covplan.conversion.base import get_converter
    from covplan.demo_data.layouts import write_demo_data

    raw = write_demo_data(root / f"raw_{name}", "semiseg", num_cases=num_cases, size=size, seed=seed)
    get_converter("slices").convert(raw, root / name)
    return root / name


def run_finetune(arguments: argparse.Namespace, root: Path) -> None:
    from covplan.training import TrainingSettings, train_fold
    from covplan.workflows.init_from import open_source_model
    from covplan.workflows.plan import plan_and_preprocess

    device = resolve_device(arguments.device)
    source_data = phantoms(root, "source", arguments.source_cases, arguments.size, SOURCE_SEED)
    target_data = phantoms(root, "target", arguments.target_cases, arguments.size, TARGET_SEED)
    source_work = root / "source_work"
    plan_and_preprocess(source_data, source_work, [ARCHITECTURE], then_preprocess=True,
                        configurations=[CONFIGURATION], num_processes=2)
    train_fold(source_work, ARCHITECTURE, "all", CONFIGURATION,
               TrainingSettings(time_budget_s=60 * arguments.source_minutes, device=device.type,
                                num_workers=arguments.workers, evaluate=False))
    source_folder = source_work / f"{ARCHITECTURE}__{CONFIGURATION}"
    plan_and_preprocess(target_data, root / "target_work", [], then_preprocess=True, init_from=source_folder,
                        num_folds=PHANTOM_SPLITS)
    source = open_source_model(source_folder, root / "target_work")
    results: dict[tuple[float, str], list[dict]] = {}
    for budget in arguments.budgets:
        for arm, init_from in (("from random weights", None), ("fine-tuned (--init-from)", source)):
            work = Path(shutil.copytree(root / "target_work", root / f"work_{budget:g}_{init_from is not None}"))
            for seed in arguments.seeds:
                for fold in arguments.folds:
                    settings = TrainingSettings(time_budget_s=60 * budget, seed=seed, device=device.type,
                                                num_workers=arguments.workers, test_time_mirroring=False)
                    started = time.monotonic()
                    train_fold(work, ARCHITECTURE, fold, CONFIGURATION, settings, init_from=init_from)
                    validation = work / f"{ARCHITECTURE}__{CONFIGURATION}" / f"fold_{fold}" / "validation"
                    results.setdefault((budget, arm), []).append(
                        {**fold_class_dice(work, validation), "minutes": (time.monotonic() - started) / 60})
                    logger.info("budget %g, %s, seed %d, fold %d: %s", budget, arm, seed, fold,
                                results[(budget, arm)][-1])
    rows = [[f"{budget:g}", arm, len(runs), *[mean_and_spread([run.get(name) for run in runs]) for name in CLASSES],
             f"{statistics.mean(run['minutes'] for run in runs):.1f}"] for (budget, arm), runs in results.items()]
    record(f"Few labels: fine-tuning from other phantoms vs random weights at equal minutes, device {device.type}",
           markdown_table(["budget min", "start", "runs", *[f"Dice {name}" for name in CLASSES], "minutes used"],
                          rows),
           notes=[f"source: {arguments.source_cases} semiseg phantom slices (seed {SOURCE_SEED}, {arguments.size} px) "
                  f"trained on fold all for {arguments.source_minutes:g} min; target: {arguments.target_cases} other "
                  f"phantoms (seed {TARGET_SEED}), folds {arguments.folds} of {PHANTOM_SPLITS}, seeds "
                  f"{arguments.seeds}",
                  "both arms: the source's plans moved to the target, the same budget per fold; validation without "
                  "mirroring; Dice: mean +- standard deviation over seeds and folds of the fold's mean over slices"])


def run_pseudo_phantoms(arguments: argparse.Namespace, root: Path) -> None:
    """Labelled-only against pseudo-labelling on phantoms of one seed, some without masks."""
    from covplan.conversion.base import get_converter
    from covplan.conversion.slice_format import SEMISEG_IMAGES, SEMISEG_MASKS
    from covplan.demo_data.layouts import write_demo_data

    total = arguments.labelled_cases + arguments.unlabelled_cases
    raw = write_demo_data(root / "raw", "semiseg", num_cases=total, size=arguments.size, seed=TARGET_SEED)
    unlabelled = root / "unlabelled"
    unlabelled.mkdir()
    for index in range(arguments.labelled_cases, total):  # the slices only: their masks are dropped
        (raw / SEMISEG_IMAGES / f"{index}.jpg").rename(unlabelled / f"{index}.jpg")
        (raw / SEMISEG_MASKS / f"{index}.png").unlink()
    get_converter("slices").convert(raw, root / "labelled")
    device = resolve_device(arguments.device)
    results = compare_with_unlabelled(root / "labelled", unlabelled, root, arguments, device, PHANTOM_SPLITS)
    record_comparison(f"Few labels: pseudo-labelling unlabelled phantoms vs labelled only at equal minutes, "
                      f"device {device.type}", results, arguments, [
                          f"data: semiseg phantom slices of seed {TARGET_SEED} ({arguments.size} px, the fine-tuning "
                          f"target's family): {arguments.labelled_cases} labelled (folds {arguments.folds} of "
                          f"{PHANTOM_SPLITS}), {arguments.unlabelled_cases} more written without masks as the "
                          f"unlabelled input"])


def run_real(arguments: argparse.Namespace, root: Path) -> None:
    """Labelled-only against pseudo-labelling on the 50 real slices, with real unlabelled CT."""
    from covplan.conversion.base import get_converter

    slices_dir = shrunk_slices(arguments.slices_dir, root / "shrunk") if arguments.quick else arguments.slices_dir
    get_converter("slices").convert(slices_dir, root / "labelled")
    unlabelled = root / "unlabelled"
    for path in sorted(NY_SBU.rglob("*.dcm"))[:arguments.ny_sbu_slices]:  # copied: predict's search follows no link
        (unlabelled / "ny_sbu" / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, unlabelled / "ny_sbu" / path.parent.name / path.name)
    lidc = write_lidc_slices(unlabelled / "lidc", arguments.lidc_slices)
    device = resolve_device(arguments.device)
    domains = grey_levels(arguments.slices_dir, unlabelled)
    results = compare_with_unlabelled(root / "labelled", unlabelled, root, arguments, device, None)
    record_comparison(f"Few labels: pseudo-labelling real unlabelled CT slices vs the 50 COVID-SemiSeg slices "
                      f"alone at equal minutes, device {device.type}", results, arguments, [
                          f"labelled: the 50 COVID-SemiSeg slices ({arguments.slices_dir.name}, slices converter, "
                          f"8-bit windowed JPEGs, 1 mm pixels assumed), folds {arguments.folds} of 5",
                          f"unlabelled: {arguments.ny_sbu_slices} of the 20 NY-SBU DICOM slices (HU after rescale, "
                          f"pixel spacing from the header) "
                          f"and {len(lidc)} axial slice(s) of LIDC-IDRI-0001 (z = {', '.join(map(str, lidc))}: evenly "
                          f"spread over the slices whose lung area is at least {LUNG_AREA_SHARE:g} of the largest; "
                          f"2D NIfTI in HU, 0.703 mm pixels)",
                          f"intensities: no windowing here; covplan's prediction input maps HU to the labelled "
                          f"dataset's 8-bit grey domain itself ({domains})",
                          *([f"--quick: {QUICK['real']}; proves the harness, no figure"] if arguments.quick else [])])


def shrunk_slices(slices_dir: Path, folder: Path) -> Path:
    """A copy of the COVID-SemiSeg slices and masks ``QUICK_SHRINK`` times smaller a side
    (masks by nearest neighbour: their colours stay labels)."""
    from PIL import Image

    from covplan.conversion.slice_format import SEMISEG_IMAGES, SEMISEG_MASKS

    for subfolder, resample in ((SEMISEG_IMAGES, Image.Resampling.BILINEAR), (SEMISEG_MASKS, Image.Resampling.NEAREST)):
        (folder / subfolder).mkdir(parents=True)
        for path in sorted((slices_dir / subfolder).iterdir()):
            picture = Image.open(path)
            size = (max(1, picture.width // QUICK_SHRINK), max(1, picture.height // QUICK_SHRINK))
            picture.resize(size, resample).save(folder / subfolder / path.name)
    return folder


def write_lidc_slices(folder: Path, count: int) -> list[int]:
    """``count`` axial slices of the LIDC CT through the lungs, each a 2D NIfTI in HU (what
    an axial slice exported from the scan is); the slice indices written."""
    import numpy as np
    import SimpleITK as sitk

    volume = sitk.ReadImage(str(LIDC_CT))
    hu = sitk.GetArrayViewFromImage(volume)
    lung_area = ((hu > LUNG_HU[0]) & (hu < LUNG_HU[1])).sum(axis=(1, 2))
    candidates = np.flatnonzero(lung_area >= LUNG_AREA_SHARE * lung_area.max())
    chosen = sorted({int(z) for z in candidates[np.linspace(0, len(candidates) - 1, count).round().astype(int)]})
    folder.mkdir(parents=True)
    for z in chosen:  # no "_0000"-like ending: predict would take it for a channel
        sitk.WriteImage(volume[:, :, z], str(folder / f"{LIDC_CT.name.split('.')[0]}_z{z:03d}.nii.gz"))
    return chosen


def grey_levels(slices_dir: Path, unlabelled: Path) -> str:
    """The window covplan applies and what it gives: the darkest (air, lung) and brightest
    (soft tissue) histogram modes of the labelled JPEGs and of the unlabelled slices
    mapped to grey, for the record that the two domains are comparable."""
    import numpy as np
    import SimpleITK as sitk
    from PIL import Image

    from covplan.conversion.images import HU_TO_GREY8, hu_to_grey8, padding_to_air

    def modes(images: list) -> str:
        histogram = np.convolve(sum(np.bincount(image.ravel(), minlength=256) for image in images),
                                np.ones(5) / 5, "same")  # smoothed: JPEG noise makes single grey levels spiky
        return f"{int(np.argmax(histogram[10:128])) + 10}/{int(np.argmax(histogram[128:250])) + 128}"

    labelled = [np.asarray(Image.open(path).convert("L")) for path in sorted((slices_dir / "Imgs").iterdir())]
    mapped = [hu_to_grey8(padding_to_air(sitk.GetArrayFromImage(sitk.ReadImage(str(path))).squeeze()))
              for path in sorted([*unlabelled.rglob("*.dcm"), *unlabelled.rglob("*.nii.gz")])]
    return (f"{HU_TO_GREY8}, the window of the published COVID-19-CT-Seg method that puts HU CT in the grey domain "
            f"of radiopaedia's images, whence the labelled slices come; grey modes air-lung/soft tissue: labelled "
            f"{modes(labelled)}, unlabelled mapped {modes(mapped)}")


def compare_with_unlabelled(dataset: Path, unlabelled: Path, root: Path, arguments: argparse.Namespace, device,
                            num_folds: int | None) -> dict[tuple[float, str], list[dict]]:
    """(budget, arm) -> one result per seed and fold of each arm."""
    from covplan.training import TrainingSettings

    results: dict[tuple[float, str], list[dict]] = {}
    for budget in arguments.budgets:
        for seed in arguments.seeds:
            settings = TrainingSettings(time_budget_s=60 * budget, seed=seed, device=device.type,
                                        num_workers=arguments.workers, test_time_mirroring=False)
            results.setdefault((budget, LABELLED_ONLY), []).extend(
                labelled_only(dataset, root / f"labelled_only_{budget:g}_{seed}", arguments.folds, settings,
                              num_folds))
            for fold in arguments.folds:
                results.setdefault((budget, WITH_UNLABELLED), []).append(
                    with_pseudo_labels(dataset, unlabelled, root / f"pseudo_{budget:g}_{seed}_{fold}", fold, settings,
                                       num_folds, arguments.target_precision))
            logger.info("budget %g, seed %d: %s", budget, seed,
                        {arm: runs[-len(arguments.folds):] for (b, arm), runs in results.items() if b == budget})
    return results


def labelled_only(dataset: Path, work: Path, folds: list[int], settings, num_folds: int | None) -> list[dict]:
    """``plan-and-train DATASET --folds ... --time-budget B``: one result per fold."""
    from covplan.workflows.plan_and_train import plan_and_train

    started = time.monotonic()
    plan_and_train(dataset, work, [ARCHITECTURE], folds, CONFIGURATION, settings, num_folds=num_folds)
    wall = (time.monotonic() - started) / 60 / len(folds)
    return [{**fold_result(work, fold), "wall": wall} for fold in folds]


def with_pseudo_labels(dataset: Path, unlabelled: Path, work: Path, fold: int, settings, num_folds: int | None,
                       target_precision: float) -> dict:
    """``plan-and-train DATASET --folds F --unlabelled DIR --rounds 1 --time-budget B``:
    the second round's fold, with the minutes of both rounds. A refusal (no threshold
    reaches the target precision) is recorded, not raised: it is a result too."""
    from covplan.errors import CovplanError
    from covplan.pseudo_labelling import PseudoLabelSettings
    from covplan.work_folder import pseudo_label_round
    from covplan.workflows.plan_and_train import plan_and_train

    started = time.monotonic()
    try:
        plan_and_train(dataset, work, [ARCHITECTURE], [fold], CONFIGURATION, settings, num_folds=num_folds,
                       unlabelled=unlabelled, rounds=1,
                       pseudo_label_settings=PseudoLabelSettings(target_precision, device=settings.device))
    except CovplanError as error:
        logger.warning("fold %d, seed %d: pseudo-labelling refused: %s", fold, settings.seed, error)
        return {"refused": str(error)}
    wall = (time.monotonic() - started) / 60
    pseudo_dataset, round_work = pseudo_label_round(work, 1)
    validation = splits(round_work)[fold]["val"]
    if validation != splits(work)[fold]["val"]:
        raise SystemExit(f"{round_work}: fold {fold} validates on other cases than the labelled-only split; the "
                         f"comparison would not be on the same drawn labels")
    first, second = fold_result(work, fold), fold_result(round_work, fold)
    return {**second, "training": first["training"] + second["training"], "wall": wall,
            **pseudo_label_facts(pseudo_dataset)}


def splits(work: Path) -> list[dict]:
    from covplan.work_folder import splits_path

    return json.loads(splits_path(work).read_text())


def fold_result(work: Path, fold: int) -> dict:
    """Dice per class of the fold's validation, its training minutes and its plan."""
    from covplan.work_folder import FOLD_TIME_JSON, plans_path

    fold_folder = work / f"{ARCHITECTURE}__{CONFIGURATION}" / f"fold_{fold}"
    plan = json.loads(plans_path(work, ARCHITECTURE).read_text())["configurations"][CONFIGURATION]
    training_s = json.loads((fold_folder / FOLD_TIME_JSON).read_text())["training_s"]
    return {**fold_class_dice(work, fold_folder / "validation"), "training": training_s / 60,
            "plan": plan_text(plan)}


def pseudo_label_facts(pseudo_dataset: Path) -> dict:
    """The threshold chosen, the pseudo-labelled cases and the mean share of their voxels
    marked ignore, from the new dataset's record."""
    from covplan.conversion.raw_dataset import PSEUDO_LABELLED_KEY, PSEUDO_LABELS_KEY
    from covplan.work_folder import COVPLAN_DATASET_JSON

    document = json.loads((pseudo_dataset / COVPLAN_DATASET_JSON).read_text())
    kept = [entry["kept_fraction"] for entry in document["cases"].values() if entry.get(PSEUDO_LABELLED_KEY)]
    return {"threshold": document[PSEUDO_LABELS_KEY]["threshold_entropy_nats"], "pseudo_cases": len(kept),
            "ignored": 1 - statistics.mean(kept)}


def record_comparison(title: str, results: dict[tuple[float, str], list[dict]], arguments: argparse.Namespace,
                      notes: list[str]) -> None:
    def mean(runs: list[dict], key: str, form: str) -> str:
        values = [run[key] for run in runs if key in run]
        return format(statistics.mean(values), form) if values else "-"

    rows, refusals = [], []
    for (budget, arm), runs in results.items():
        done = [run for run in runs if "refused" not in run]
        refusals += [f"{budget:g} min: {run['refused']}" for run in runs if "refused" in run]
        rows.append([f"{budget:g}", arm, f"{len(done)} of {len(runs)}",
                     *[mean_and_spread([run.get(name) for run in done]) for name in CLASSES],
                     mean(done, "training", ".1f"), mean(done, "wall", ".1f"), mean(done, "threshold", ".3g"),
                     mean(done, "ignored", ".1%"), mean(done, "pseudo_cases", ".0f"),
                     done[0]["plan"] if done else "-"])
    record(title, markdown_table(["budget min", "training data", "runs", *[f"Dice {name}" for name in CLASSES],
                                  "training min", "wall min", "threshold nats", "ignored voxels",
                                  "pseudo cases", "plan (first run)"], rows),
           notes=[*notes,
                  f"seeds {arguments.seeds}; {ARCHITECTURE} {CONFIGURATION}, plans fitted to each training's minutes "
                  f"(plan-and-train --time-budget); validation without mirroring",
                  "the pseudo-labelling arm: plan-and-train --unlabelled --rounds 1 once per fold, each of its two "
                  "trainings B/2 min (the workflow's split); its fold's pseudo-labels come from its first model "
                  "alone, which never saw the fold's validation cases; the threshold (one number, "
                  f"--target-precision {arguments.target_precision:g}) is chosen on that model's held-out "
                  "predictions of those same validation cases; pseudo-labelled cases in no validation fold, both "
                  "arms scored on the same drawn labels (checked)",
                  "Dice: mean +- standard deviation over seeds and folds of the fold's mean over slices (the second "
                  "round's fold for pseudo-labelling); training min: both rounds; wall min: per fold, with "
                  "planning and its throughput probes, validation and pseudo-labelling; ignored voxels: mean over "
                  "pseudo-labelled cases of the share marked ignore",
                  *(f"refused: {text}" for text in refusals)])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
