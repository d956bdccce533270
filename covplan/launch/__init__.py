"""Jobs on an existing engine: the folds of plan-and-train and the trials of tune, each its
own job, on this machine (submitit's LocalExecutor) or a SLURM cluster (submitit's
SlurmExecutor). submitit is an optional dependency: ``pip install covplan[slurm]``."""

from covplan.launch.jobs import LAUNCHERS, Call, Launcher, run_jobs

__all__ = ["LAUNCHERS", "Call", "Launcher", "run_jobs"]
