"""covplan plan + preprocess against nnUNetv2_plan_and_preprocess on the same generated dataset.

Runs both pipelines as separate processes with the same workers and configurations,
each from a fresh output folder, alternating, ``--repeat`` times each; prints the best
wall time and peak memory (the largest process, workers included) and their ratios, then checks that the plain_unet plans and
one preprocessed case are identical. Not a test: figures depend on the machine.

    python benchmarks/bench_plan_preprocess.py --cases 8 --shape 48 160 160 -j 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import best, markdown_table, record, run_measured

from tests.tiny_datasets import write_raw_dataset  # the test suite's dataset writer (common puts the root on sys.path)

NNUNET = """
import sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
if __name__ == "__main__":
    workers = int(sys.argv[1])
    extract_fingerprints([501], num_processes=workers, check_dataset_integrity=True)
    plans_name = plan_experiments([501])
    preprocess([501], plans_name, configurations=("2d", "3d_fullres", "3d_lowres"), num_processes=[workers])
"""


def compare_outputs(covplan_work: Path, nnunet_folder: Path) -> str:
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    ours = json.loads((covplan_work / "plans_plain_unet.json").read_text())["configurations"]["3d_fullres"]
    theirs = json.loads((nnunet_folder / "nnUNetPlans.json").read_text())["configurations"]["3d_fullres"]
    same_plans = all(ours[key] == theirs[key] for key in ("spacing", "patch_size", "batch_size", "architecture"))
    our_data = nnUNetDatasetBlosc2(str(covplan_work / ours["data_identifier"])).load_case("case_000")
    their_data = nnUNetDatasetBlosc2(str(nnunet_folder / theirs["data_identifier"])).load_case("case_000")
    same_data = all(np.array_equal(np.asarray(a[:]), np.asarray(b[:])) for a, b in zip(our_data[:2], their_data[:2]))
    return f"3d_fullres plans identical: {same_plans}; case_000 data and seg identical: {same_data}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8, help="Number of generated cases.")
    parser.add_argument("--shape", type=int, nargs=3, default=(48, 160, 160), help="Case shape z y x.")
    parser.add_argument("-j", "--num-processes", type=int, default=2, help="Workers for both pipelines.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each pipeline; the best counts.")
    arguments = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_plan_"))
    try:
        raw = write_raw_dataset(root / "raw" / "Dataset501_Bench", num_cases=arguments.cases,
                                shape_zyx=tuple(arguments.shape))
        environment = {**os.environ, "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                       "nnUNet_results": str(root / "results")}
        workers = str(arguments.num_processes)
        covplan_runs, nnunet_runs = [], []
        for _ in range(arguments.repeat):
            for folder in ("work", "pre"):
                shutil.rmtree(root / folder, ignore_errors=True)
            nnunet_runs.append(run_measured([sys.executable, "-c", NNUNET, workers], environment))
            covplan_runs.append(run_measured(
                [sys.executable, "-m", "covplan", "plan", str(raw), "-o", str(root / "work"), "-j", workers,
                 "--preprocess"], environment))
        covplan, nnunet = best(covplan_runs), best(nnunet_runs)
        rows = [["covplan plan --preprocess", *covplan], ["nnUNetv2 plan_and_preprocess", *nnunet],
                ["ratio covplan / nnU-Net", *(ours / theirs for ours, theirs in zip(covplan, nnunet))]]
        record(f"Planning and preprocessing: {arguments.cases} cases of {' x '.join(map(str, arguments.shape))} "
               f"voxels, {workers} workers, best of {arguments.repeat}",
               markdown_table(["pipeline", "wall s", "cpu s", "peak MiB"], rows),
               notes=[compare_outputs(root / "work", root / "pre" / "Dataset501_Bench")])
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
