"""Built-in tracker ``tensorboard``: event files in each run's folder
(``fold_F/tensorboard/``, ``WORK/tensorboard/`` for plan-and-train and find-best), so
that ``tensorboard --logdir WORK`` shows every fold of every model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from covplan.hookspecs import hookimpl
from covplan.tracking.base import ParamValue, RunDescription, TrackedRun, TrackerPlugin

EVENTS_FOLDER = "tensorboard"


class TensorBoardRun(TrackedRun):
    """One SummaryWriter. Scalars are tagged as training_log.csv's columns; parameters and
    text files are Markdown in the Text tab, PNG files images in the Images tab."""

    def __init__(self, log_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.last_step = 0  # where a run's final results are shown on the epoch axis

    def log_params(self, params: Mapping[str, ParamValue]) -> None:
        rows = "\n".join(f"| {key} | {value} |" for key, value in params.items())
        self.writer.add_text("params", f"| parameter | value |\n|---|---|\n{rows}", self.last_step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.last_step = self.last_step if step is None else step
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, self.last_step)
        self.writer.flush()  # a killed run keeps every finished epoch

    def log_artifact(self, path: Path, folder: str = "") -> None:
        prefix = f"{folder}/" if folder else ""
        if path.suffix == ".png":
            import numpy as np
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image(prefix + path.stem, pixels, self.last_step, dataformats="HWC")
        else:  # indented by four spaces: Markdown shows it verbatim
            text = "\n".join(f"    {line}" for line in path.read_text(errors="replace").splitlines())
            self.writer.add_text(prefix + path.name, text, self.last_step)

    def end(self, status: str) -> None:
        self.writer.add_text("status", status, self.last_step)
        self.writer.close()


class TensorBoardTracker(TrackerPlugin):
    """TensorBoard event files in each fold folder (tensorboard --logdir WORK)."""

    name = "tensorboard"
    requires = ("tensorboard",)
    install_hint = "pip install 'covplan[tensorboard]'"
    work_entries = (EVENTS_FOLDER,)  # plan-and-train's and find-best's events

    def start_run(self, run: RunDescription, parent: TrackedRun | None, tracking_uri: str | None) -> TrackedRun:
        tracked = TensorBoardRun(run.folder / EVENTS_FOLDER)
        tracked.log_params({"run": run.name, "kind": run.kind, **run.params})
        return tracked


@hookimpl
def register_trackers(register):
    register(TensorBoardTracker())
