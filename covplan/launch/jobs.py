"""Calls run as jobs with submitit, nothing home-made beyond keeping a set number of local
jobs running: submitit's LocalExecutor starts every job it is given at once, where a
SLURM array runs at most ``array_parallelism`` of its tasks at a time.

Each job's files (stdout, stderr, the pickled call and result) are in ``Launcher.folder``,
named by the job's id (a local job's is its process id; a SLURM job's get a folder each). A job only calls a covplan function that resumes by itself
(a fold from its checkpoint, a trial from its study), so running the command again with
``--resume`` continues whatever a killed job left.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from covplan.errors import CovplanError
from covplan.interruption import interrupted_by_signals

logger = logging.getLogger(__name__)

LAUNCHERS = ("local", "slurm")
POLL_S = 1.0  # how often local jobs are checked: a job lasts minutes, a check costs a stat
DRY_RUN_SCRIPT = "dry_run.sbatch"


@dataclass(frozen=True)
class Launcher:
    """Where and how jobs run."""

    kind: str  # one of LAUNCHERS
    folder: Path  # submitit's folder: one subfolder of logs per job
    jobs_at_once: int = 1  # local: jobs side by side (at most one per GPU); slurm: the array's parallelism
    gpus_per_job: int | None = None  # None: one where training runs on CUDA, else none
    cpus_per_job: int | None = None  # slurm's cpus_per_task; None: the cluster's default
    minutes_per_job: int = 24 * 60  # slurm's time limit, and local jobs' (submitit's default is 2 minutes)
    partition: str | None = None  # slurm partition
    dry_run: bool = False  # slurm: write the sbatch script, submit nothing


@dataclass(frozen=True)
class Call:
    """One job: ``function(*arguments)``, named ``name`` in logs and messages."""

    name: str
    function: Callable[..., Any]
    arguments: tuple[Any, ...]


def require_submitit():
    """submitit, or a one-line error naming the extra that installs it."""
    try:
        import submitit
    except ImportError:
        raise CovplanError("--launcher needs submitit, which is not installed; pip install 'covplan[slurm]'") from None
    return submitit


def gpus_per_job(launcher: Launcher, device: str) -> int:
    """The launcher's GPUs per job: as given, else one when training uses CUDA (``device``
    cuda, or auto on a machine or cluster that has it), else none."""
    if launcher.gpus_per_job is not None:
        return launcher.gpus_per_job
    if device == "cpu":
        return 0
    if launcher.kind == "slurm":  # the login node may have no GPU; the compute nodes are asked for one
        return 1
    import torch

    return 1 if torch.cuda.is_available() else 0


def run_jobs(calls: Sequence[Call], launcher: Launcher, device: str = "auto") -> list[Any]:
    """Run every call as its own job and return their results in order. A job that fails
    does not stop the others; once all have ended, the failures raise one
    :class:`CovplanError` naming each failed job's log. With ``launcher.dry_run`` nothing
    runs: the SLURM script is written to ``launcher.folder/dry_run.sbatch`` and ``[]`` returned."""
    launcher.folder.mkdir(parents=True, exist_ok=True)
    (launcher.folder / DRY_RUN_SCRIPT).unlink(missing_ok=True)  # an earlier dry run's is not this one's
    if not calls:
        return []
    gpus = gpus_per_job(launcher, device)
    if launcher.kind == "slurm":
        return _run_on_slurm(calls, launcher, gpus)
    return _run_locally(calls, launcher, gpus)


def _run_locally(calls: Sequence[Call], launcher: Launcher, gpus: int) -> list[Any]:
    """Jobs side by side: ``jobs_at_once`` on CPU, one per visible GPU (``gpus`` each)
    with CUDA, each job seeing only its own GPUs (CUDA_VISIBLE_DEVICES, set by submitit)."""
    submitit = require_submitit()
    if gpus:
        import torch

        devices = list(range(torch.cuda.device_count()))
        slots = [tuple(devices[start:start + gpus]) for start in range(0, len(devices) - gpus + 1, gpus)]
        if not slots:
            raise CovplanError(f"--gpus-per-job {gpus}: this machine has {len(devices)} GPU(s)")
    else:
        slots = [()] * launcher.jobs_at_once
    free = slots[:launcher.jobs_at_once]
    # Jobs side by side on the CPU share its cores, rather than each taking all of them.
    threads = max(1, (os.cpu_count() or 1) // len(free)) if not gpus else None
    executor = submitit.LocalExecutor(folder=launcher.folder)  # a job's files are named by its id
    pending, running, outcomes = list(enumerate(calls)), {}, {}
    try:
        with interrupted_by_signals(), tqdm(total=len(calls), desc="jobs", unit="job") as bar:
            _keep_running(executor, pending, running, free, outcomes, launcher, threads, bar)
    except BaseException:
        # Local jobs end with the command (Ctrl-C, SIGTERM, an error here): --resume continues them.
        for job in running:
            job.cancel(check=False)
        raise
    return _results(calls, outcomes)


def _keep_running(executor, pending: list[tuple[int, Call]], running: dict, free: list[tuple[int, ...]],
                  outcomes: dict[int, tuple[bool, Any]], launcher: Launcher, threads: int | None, bar) -> None:
    """Start pending calls on free slots until every one has ended."""
    while pending or running:
        while pending and free:
            (index, call), slot = pending.pop(0), free.pop(0)
            executor.update_parameters(timeout_min=launcher.minutes_per_job, gpus_per_node=len(slot),
                                       visible_gpus=slot)
            job = executor.submit(_with_threads, threads, call.function, *call.arguments)
            logger.info("%s: local job %s on %s, log %s", call.name, job.job_id,
                        f"GPU {','.join(map(str, slot))}" if slot else "CPU", job.paths.stdout)
            running[job] = (index, call, slot)
        finished = [job for job in running if job.done()]
        if not finished:
            time.sleep(POLL_S)
        for job in finished:
            index, call, slot = running.pop(job)
            free.append(slot)
            outcomes[index] = _outcome(job, call)
            bar.update()


def _run_on_slurm(calls: Sequence[Call], launcher: Launcher, gpus: int) -> list[Any]:
    """One SLURM job array of the calls, at most ``jobs_at_once`` running at a time."""
    submitit = require_submitit()
    parameters = {"job_name": "covplan", "time": launcher.minutes_per_job, "gpus_per_node": gpus,
                  "array_parallelism": launcher.jobs_at_once,
                  **({"cpus_per_task": launcher.cpus_per_job} if launcher.cpus_per_job else {}),
                  **({"partition": launcher.partition} if launcher.partition else {})}
    if launcher.dry_run:
        script = launcher.folder / DRY_RUN_SCRIPT
        script.write_text(sbatch_script(parameters, launcher.folder, len(calls)))
        logger.warning("dry run: nothing submitted; the sbatch script of the %d job(s) is %s", len(calls), script)
        return []
    executor = submitit.SlurmExecutor(folder=launcher.folder / "%j")
    executor.update_parameters(**parameters)
    with executor.batch():
        jobs = [executor.submit(call.function, *call.arguments) for call in calls]
    for job, call in zip(jobs, calls):
        logger.info("%s: SLURM job %s, log in %s", call.name, job.job_id, job.paths.folder)
    outcomes = {}
    by_job = {job: index for index, job in enumerate(jobs)}
    for job in tqdm(submitit.helpers.as_completed(jobs, poll_frequency=30), total=len(jobs), desc="jobs",
                    unit="job"):
        outcomes[by_job[job]] = _outcome(job, calls[by_job[job]])
    return _results(calls, outcomes)


def sbatch_script(parameters: dict[str, Any], folder: Path, num_jobs: int) -> str:
    """The sbatch script submitit would submit for an array of ``num_jobs`` calls: its own
    SlurmExecutor writes it (that class refuses to start where ``srun`` is missing, as on a
    laptop checking the script, hence the subclass)."""
    from submitit import SlurmExecutor

    class ScriptOnly(SlurmExecutor):
        @classmethod
        def affinity(cls) -> int:
            return 1

    executor = ScriptOnly(folder=Path(folder) / "%j")
    executor.update_parameters(**parameters)
    executor.parameters["map_count"] = num_jobs  # as SlurmExecutor submits an array
    return executor._make_submission_file_text(executor._submitit_command_str, "dry-run")


def _with_threads(threads: int | None, function: Callable[..., Any], *arguments: Any) -> Any:
    """``function(*arguments)`` in a local job, its torch using ``threads`` CPU threads
    (None: torch's default)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return function(*arguments)


def _outcome(job, call: Call) -> tuple[bool, Any]:
    """(True, result) of a job that returned, (False, why) of one that failed."""
    try:
        return True, job.result()
    except Exception as error:  # submitit's FailedJobError carries the job's traceback
        logger.warning("%s failed (job %s): %s", call.name, job.job_id, str(error).splitlines()[0])
        return False, f"{call.name} (log: {job.paths.stderr})"


def _results(calls: Sequence[Call], outcomes: dict[int, tuple[bool, Any]]) -> list[Any]:
    failed = [outcomes[index][1] for index in range(len(calls)) if not outcomes[index][0]]
    if failed:
        raise CovplanError(f"{len(failed)} of {len(calls)} job(s) failed: {'; '.join(failed)}; fix the cause and run "
                           f"the command again with --resume (finished jobs are kept)")
    return [outcomes[index][1] for index in range(len(calls))]
