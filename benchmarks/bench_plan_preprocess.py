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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tiny_datasets import write_raw_dataset  # noqa: E402  (the test suite's dataset writer)

NNUNET = """
import sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
if __name__ == "__main__":
    workers = int(sys.argv[1])
    extract_fingerprints([501], num_processes=workers, check_dataset_integrity=True)
    plans_name = plan_experiments([501])
    preprocess([501], plans_name, configurations=("2d", "3d_fullres", "3d_lowres"), num_processes=[workers])
"""


def run_measured(command: list[str], environment: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (all processes) and peak resident memory in MiB of the
    largest process of ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed:\n{process.stderr.read().decode()[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def best(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Shortest wall and CPU time of the runs (the least disturbed by other load), largest peak."""
    return min(run[0] for run in runs), min(run[1] for run in runs), max(run[2] for run in runs)


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
        print(f"dataset: {arguments.cases} cases of {' x '.join(map(str, arguments.shape))} voxels, "
              f"{workers} workers, best of {arguments.repeat}")
        for label, (wall, cpu, peak) in (("covplan plan --preprocess", covplan),
                                         ("nnUNetv2 plan_and_preprocess", nnunet)):
            print(f"{label:<30}wall {wall:7.1f} s  cpu {cpu:7.1f} s  peak {peak:7.0f} MiB")
        print("ratio covplan / nnU-Net: " + ", ".join(
            f"{name} {ours / theirs:.2f}" for name, ours, theirs in zip(("wall", "cpu", "peak memory"), covplan, nnunet)))
        print(compare_outputs(root / "work", root / "pre" / "Dataset501_Bench"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
