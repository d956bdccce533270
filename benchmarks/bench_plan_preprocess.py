"""covplan plan + preprocess against nnUNetv2_plan_and_preprocess on the same datasets.

For each dataset (generated cases at each ``--cases`` count, then cases cut from the real
LIDC-IDRI-0001 CT) both pipelines run as separate processes with the same workers and
configurations, each from a fresh output folder, alternating, ``--repeat`` times each. Prints
the best wall and CPU time and the peak memory (the largest process, workers included) of
each, their ratios, and how each grows with the number of cases (least-squares seconds and
MiB per added case); checks that the plain_unet plans and one preprocessed case are
identical. Not a test: figures depend on the machine.

    python benchmarks/bench_plan_preprocess.py --cases 4 8 16 --shape 48 160 160 -j 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import LIDC_CT, best, markdown_table, record, run_measured

from tests.raw_datasets import write_raw_dataset  # the test suite's dataset writer (common puts the root on sys.path)

DATASET_NAME = "Dataset501_Bench"
NNUNET = """
import sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
if __name__ == "__main__":
    workers = int(sys.argv[1])
    extract_fingerprints([501], num_processes=workers, check_dataset_integrity=True)
    plans_name = plan_experiments([501])
    preprocess([501], plans_name, configurations=("2d", "3d_fullres", "3d_lowres"), num_processes=[workers])
"""
# Air below this many HU; the lungs are the air that does not reach the scan's edge.
AIR_HU = -400
LIDC_SLAB_SLICES = 100


@dataclass
class Measured:
    dataset: str
    generated: bool  # a generated dataset (the growth fit uses these), else the LIDC slabs
    cases: int
    covplan: tuple[float, float, float]  # wall s, CPU s, peak MiB
    nnunet: tuple[float, float, float]
    check: str


def lidc_lung_labels(image: np.ndarray) -> np.ndarray:
    """Label 1 for the air inside the body (lungs and airways), 0 elsewhere: a rough lung
    mask, enough for fingerprinting a real CT (LIDC has no lung masks)."""
    from scipy import ndimage

    components, _ = ndimage.label(image < AIR_HU)
    edges = np.concatenate([components[:, 0, :].ravel(), components[:, -1, :].ravel(),
                            components[:, :, 0].ravel(), components[:, :, -1].ravel()])
    outside = np.unique(edges[edges > 0])
    return ((components > 0) & ~np.isin(components, outside)).astype(np.uint8)


def write_lidc_dataset(ct_file: Path, dataset_dir: Path, num_cases: int) -> Path:
    """``num_cases`` cases cut from one real CT: slabs of 100 slices starting at different
    heights, every other one mirrored left-right, in HU with the CT's spacing."""
    import SimpleITK as sitk

    ct = sitk.ReadImage(str(ct_file))
    volume = sitk.GetArrayFromImage(ct)
    labels = lidc_lung_labels(volume)
    slab = min(LIDC_SLAB_SLICES, volume.shape[0])
    for folder in ("imagesTr", "labelsTr"):
        (dataset_dir / folder).mkdir(parents=True)
    for index in range(num_cases):
        start = (index * 7) % (volume.shape[0] - slab + 1)
        mirror = slice(None, None, -1 if index % 2 else 1)
        for array, path in ((volume, dataset_dir / "imagesTr" / f"case_{index:03d}_0000.nii.gz"),
                            (labels, dataset_dir / "labelsTr" / f"case_{index:03d}.nii.gz")):
            image = sitk.GetImageFromArray(np.ascontiguousarray(array[start:start + slab, :, mirror]))
            image.SetSpacing(ct.GetSpacing())
            sitk.WriteImage(image, str(path))
    (dataset_dir / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "lung": 1}, "numTraining": num_cases,
        "file_ending": ".nii.gz"}))
    return dataset_dir


def compare_outputs(covplan_work: Path, nnunet_folder: Path) -> str:
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    ours = json.loads((covplan_work / "plans_plain_unet.json").read_text())["configurations"]["3d_fullres"]
    theirs = json.loads((nnunet_folder / "nnUNetPlans.json").read_text())["configurations"]["3d_fullres"]
    same_plans = all(ours[key] == theirs[key] for key in ("spacing", "patch_size", "batch_size", "architecture"))
    our_data = nnUNetDatasetBlosc2(str(covplan_work / ours["data_identifier"])).load_case("case_000")
    their_data = nnUNetDatasetBlosc2(str(nnunet_folder / theirs["data_identifier"])).load_case("case_000")
    same_data = all(np.array_equal(np.asarray(a[:]), np.asarray(b[:])) for a, b in zip(our_data[:2], their_data[:2]))
    return f"plans {'identical' if same_plans else 'DIFFER'}, case_000 {'identical' if same_data else 'DIFFERS'}"


def measure(root: Path, raw: Path, workers: int, repeat: int) -> tuple[tuple, tuple, str]:
    """Best (wall, CPU, peak) of each pipeline on the raw dataset ``raw``, and the check."""
    environment = {**os.environ, "nnUNet_raw": str(raw.parent), "nnUNet_preprocessed": str(root / "pre"),
                   "nnUNet_results": str(root / "results")}
    covplan_runs, nnunet_runs = [], []
    for _ in range(repeat):
        for folder in ("work", "pre"):
            shutil.rmtree(root / folder, ignore_errors=True)
        nnunet_runs.append(run_measured([sys.executable, "-c", NNUNET, str(workers)], environment))
        covplan_runs.append(run_measured(
            [sys.executable, "-m", "covplan", "plan", str(raw), "-o", str(root / "work"), "-j", str(workers),
             "--preprocess"], environment))  # 5 folds, or one per case when there are fewer
    return best(covplan_runs), best(nnunet_runs), compare_outputs(root / "work", root / "pre" / DATASET_NAME)


def growth(results: list[Measured], pipeline: str, column: int) -> float:
    """Least-squares slope of a column (0 wall, 1 CPU, 2 peak) against the number of cases."""
    cases = [result.cases for result in results]
    values = [getattr(result, pipeline)[column] for result in results]
    return float(np.polyfit(cases, values, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[4, 8, 16],
                        help="Numbers of generated cases, one dataset each.")
    parser.add_argument("--shape", type=int, nargs=3, default=(48, 160, 160), help="Generated case shape z y x.")
    parser.add_argument("--lidc", type=Path, default=LIDC_CT,
                        help="The real CT the LIDC-based dataset is cut from (skipped when absent).")
    parser.add_argument("--lidc-cases", type=int, default=4, help="Cases cut from the LIDC CT; 0 skips it.")
    parser.add_argument("-j", "--num-processes", type=int, default=2, help="Workers for both pipelines.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each pipeline; the best counts.")
    arguments = parser.parse_args()
    if min(arguments.cases) < 2 or arguments.lidc_cases == 1:
        parser.error("every dataset needs at least 2 cases (covplan plans at least 2 folds)")

    results = []
    shape = " x ".join(map(str, arguments.shape))
    datasets = [(f"generated {shape}", True, cases) for cases in arguments.cases]
    if arguments.lidc_cases and arguments.lidc.is_file():
        datasets.append((f"LIDC-IDRI-0001 slabs {LIDC_SLAB_SLICES} x 512 x 512", False, arguments.lidc_cases))
    elif arguments.lidc_cases:
        print(f"LIDC-based dataset skipped: {arguments.lidc} absent (pass --lidc)")
    for name, generated, cases in datasets:
        root = Path(tempfile.mkdtemp(prefix="bench_plan_"))
        try:
            raw = root / "raw" / DATASET_NAME
            if generated:
                write_raw_dataset(raw, num_cases=cases, shape_zyx=tuple(arguments.shape))
            else:
                write_lidc_dataset(arguments.lidc, raw, cases)
            print(f"{name}, {cases} cases ...", flush=True)
            covplan, nnunet, check = measure(root, raw, arguments.num_processes, arguments.repeat)
            print(f"  wall: covplan {covplan[0]:.1f} s, nnU-Net {nnunet[0]:.1f} s; {check}", flush=True)
            results.append(Measured(name, generated, cases, covplan, nnunet, check))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    rows = [[result.dataset, result.cases, *result.covplan, *result.nnunet,
             *(ours / theirs for ours, theirs in zip(result.covplan, result.nnunet)), result.check]
            for result in results]
    notes = ["plans and check: covplan's plans_plain_unet.json 3d_fullres (spacing, patch, batch, network) and "
             "case_000's preprocessed data and segmentation against nnU-Net's"]
    generated = [result for result in results if result.generated]
    if len({result.cases for result in generated}) > 1:
        slopes = {(pipeline, column): growth(generated, pipeline, column)
                  for pipeline in ("covplan", "nnunet") for column in range(3)}
        notes.append("growth per added generated case (least squares over "
                     f"{', '.join(str(result.cases) for result in generated)} cases): "
                     + "; ".join(f"{label} covplan {slopes['covplan', column]:.3g}, nnU-Net "
                                 f"{slopes['nnunet', column]:.3g}"
                                 for column, label in enumerate(("wall s", "CPU s", "peak MiB"))))
    record(f"Planning and preprocessing: {arguments.num_processes} workers, best of {arguments.repeat}",
           markdown_table(["dataset", "cases", "covplan wall s", "covplan CPU s", "covplan peak MiB",
                           "nnU-Net wall s", "nnU-Net CPU s", "nnU-Net peak MiB", "wall ratio", "CPU ratio",
                           "peak ratio", "check"], rows),
           notes=notes)


if __name__ == "__main__":
    main()
