"""What every benchmark shares: measuring a process or a stretch of code, the dataset and
WORK folder it runs on, nnU-Net's folder variables, and recording a table with the machine,
versions and command in ``docs/benchmarks.md``."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # the benchmarks import tests' dataset writer and each other
BENCHMARKS_MD = REPO_ROOT / "docs" / "benchmarks.md"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LIDC_CT = SHARED_DATA / "lidc_idri_0001" / "LIDC-IDRI-0001.nii.gz"  # a real chest CT in HU, no labels
# The plugins that ship with covplan; a checkout used without pip install (the GPU
# machine's PYTHONPATH set-up) has no entry points for them.
BUNDLED_PLUGIN_MODULES = {"qchc_unet": "covplan_qchc", "coarse_refine": "covplan_coarse_refine"}
RESULTS_FORMAT_VERSION = 1
Item = TypeVar("Item")


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


def resolve_device(name: str):
    """``auto``: CUDA when present, else CPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def reset_peak_memory(device) -> None:
    """Start a new peak: CUDA's max allocated, or on CPU this process's resident high-water
    mark (Linux resets it on writing 5 to clear_refs)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # then the peak is the process's since its start


def peak_memory_mib(device) -> float:
    """Peak since :func:`reset_peak_memory`: CUDA max allocated, or resident memory of this
    process (not its data-loading workers)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(step: Callable[[], object], iterations: int, warmup: int, device) -> float:
    """Median wall seconds of ``step`` over ``iterations`` calls after ``warmup`` calls."""
    import torch

    for _ in range(warmup):
        step()
    durations = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def register_bundled_plugins() -> None:
    """Load covplan's plugins; register the bundled paper plugins in-process when their
    entry points are missing (a checkout on PYTHONPATH, nothing pip-installed)."""
    import importlib

    from covplan.plugins import load_plugins, pm
    from covplan.architectures.base import architectures

    load_plugins()
    for architecture, module_name in BUNDLED_PLUGIN_MODULES.items():
        if architecture not in architectures():
            module = importlib.import_module(module_name)
            if not pm.is_registered(module):
                pm.register(module, name=module_name)


def run_in_scratch_folder(prefix: str, run: Callable[[Path], None], workers: int) -> None:
    """``run(root)`` in a new temporary folder, deleted afterwards, with nnU-Net's folder
    variables inside it, ``workers`` augmentation workers for nnU-Net and the bundled
    plugins registered."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        use_temporary_nnunet_folders(root / "nnunet")
        os.environ["nnUNet_n_proc_DA"] = str(workers)  # nnUNetTrainer's augmentation workers
        register_bundled_plugins()
        run(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def finish_loaders(*loaders: object) -> None:
    """Stop the background workers of batchgenerators' augmenters."""
    for loader in loaders:
        if hasattr(loader, "_finish"):
            loader._finish()


def use_temporary_nnunet_folders(root: Path) -> None:
    """Point nnU-Net's three folder variables at ``root`` before nnunetv2 is imported (it
    reads them once), and keep its worker counts and compilation the same as covplan's."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (root / name).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(root / name)
    os.environ.setdefault("nnUNet_compile", "false")
    os.environ.setdefault("nnUNet_def_n_proc", "2")


def expose_work_to_nnunet(work: Path, dataset_name: str) -> None:
    """Make a covplan WORK folder nnU-Net's preprocessed folder of ``dataset_name`` (a link
    under ``$nnUNet_preprocessed``): its plans are nnU-Net plans, its cases nnU-Net's files."""
    link = Path(os.environ["nnUNet_preprocessed"]) / dataset_name
    if not link.exists():
        link.symlink_to(work.resolve(), target_is_directory=True)


def nnunet_trainer(work: Path, configuration: str, fold: int, device):
    """nnunetv2's nnUNetTrainer on the plain_unet plans of a covplan WORK folder, built as
    ``nnUNetv2_train`` builds it (which passes ``continue_training`` inside the plans)."""
    import json
    import logging

    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from covplan.nnunet_paths import nnunet_prints_to_log

    plans = json.loads((work / "plans_plain_unet.json").read_text())
    dataset_json = json.loads((work / "dataset.json").read_text())
    expose_work_to_nnunet(work, plans["dataset_name"])
    with nnunet_prints_to_log(logging.getLogger(__name__), "nnUNetTrainer"):
        return nnUNetTrainer({**plans, "continue_training": False}, configuration, fold, dataset_json, device=device)


def demo_dataset(root: Path, kind: str, num_cases: int, size: int) -> Path:
    """A converted demo dataset: ``covplan demo-data`` phantoms through the real converter."""
    from covplan.demo_data.layouts import write_demo_data
    from covplan.conversion.base import get_converter

    converter = {"ct3d": "covid-ct-seg", "semiseg": "slices"}[kind]
    raw = write_demo_data(root / f"raw_{kind}", kind, num_cases=num_cases, size=size)
    get_converter(converter).convert(raw, root / f"dataset_{kind}")
    return root / f"dataset_{kind}"


def planned_work(dataset: Path, work: Path, architectures: Sequence[str], configuration: str | None,
                 folds: int = 5, num_processes: int = 2) -> Path:
    """``dataset`` planned for ``architectures`` (only ``configuration`` when given) and
    preprocessed into ``work``."""
    from covplan.planning import plan_dataset
    from covplan.preprocessing import preprocess

    configurations = [configuration] if configuration else None
    plan_dataset(dataset, work, architectures, configurations=configurations, num_processes=num_processes,
                 num_folds=folds)
    preprocess(work, architectures, configurations, num_processes)
    return work


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats with 4 significant digits."""
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """CPU model and core count, and the GPU when there is one."""
    import torch

    text = f"{cpu_model()}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def commit() -> str:
    """The checkout's short commit ("" without git)."""
    try:
        return subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:  # no git on the machine
        return ""


def versions() -> str:
    import covplan

    checkout = commit()
    found = [f"covplan {covplan.__version__}" + (f" (commit {checkout})" if checkout else "")]
    for distribution in ("nnunetv2", "torch"):
        try:
            found.append(f"{distribution} {metadata.version(distribution)}")
        except metadata.PackageNotFoundError:
            found.append(f"{distribution} (version unknown)")
    return ", ".join(found)


def record(title: str, body: str, notes: Sequence[str] = (), output_file: Path = BENCHMARKS_MD) -> str:
    """Print ``body`` (a table) under ``title`` and append it with date, machine, versions,
    the command and ``notes`` to ``output_file``; also to ``$BENCH_OUT/`` when set (the GPU
    run collects its tables there). Returns the recorded section."""
    command = " ".join([Path(sys.executable).name, *sys.argv])
    section = "\n".join([
        f"### {title}", "",
        f"- date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine_description()}",
        f"- versions: {versions()}",
        f"- command: `{command}`",
        *(f"- {note}" for note in notes), "", body, "", ""])
    print(section)
    with output_file.open("a") as stream:
        stream.write(section)
    if os.environ.get("BENCH_OUT"):
        out = Path(os.environ["BENCH_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        with (out / "benchmarks.md").open("a") as stream:
            stream.write(section)
    return section


def read_results(path: Path, experiment: str, entries: str) -> dict[str, Any]:
    """A benchmark's results file in the repository (``{"format_version", "experiment",
    entries: [...]}``, one entry per run, across sessions), or a new empty one."""
    # covplan is imported where used, as everywhere in this module: a checkout run without
    # pip install finds covplan only through the REPO_ROOT path entry made above.
    from covplan.json_files import read_json

    if not path.is_file():
        return {"format_version": RESULTS_FORMAT_VERSION, "experiment": experiment, entries: []}
    return read_json(path, "restore it from git (`git checkout -- PATH`) or remove it to start again")


def run_and_record(items: Iterable[Item], results_path: Path, experiment: str, entries: str,
                   run: Callable[[Item], dict[str, Any]], estimate_s: Callable[[Item], float],
                   max_minutes: float | None, started: float, clock: Callable[[], float] = time.monotonic) -> list[Item]:
    """Run each item whose estimated seconds still fit ``max_minutes`` since ``started``
    (an item that does not fit is skipped, a cheaper later one may still run), adding its
    entry to the results file as soon as it ends: the file is re-read first, so nothing
    recorded meanwhile is lost, and written atomically, so a kill loses only the running
    item. Returns the items run."""
    from covplan.atomic import write_json_atomic

    done = []
    for item in items:
        left_s = None if max_minutes is None else 60 * max_minutes - (clock() - started)
        if left_s is not None and estimate_s(item) > left_s:
            print(f"{item}: about {estimate_s(item) / 60:.0f} min, more than the {left_s / 60:.0f} min left: "
                  f"not started")
            continue
        entry = run(item)
        results = read_results(results_path, experiment, entries)
        results[entries].append(entry)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(results_path, results)
        done.append(item)
    return done


def provenance(origin: str) -> dict[str, str]:
    """Where a recorded run comes from: date, machine, commit, command and script."""
    return {"date": datetime.datetime.now().isoformat(timespec="minutes"), "machine": machine_description(),
            "commit": commit(), "command": " ".join(["python", *sys.argv]), "origin": origin}
