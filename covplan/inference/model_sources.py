"""Where ``covplan predict``'s models come from: model folders as given, and the model
folders of archives unpacked (and verified) for the duration of the prediction."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from covplan.errors import CovplanError
from covplan.inference.archive_reader import is_archive, unpacked_archive


@dataclass(frozen=True)
class ModelSource:
    folder: Path
    checkpoint: str
    name: str  # the archive's name (its model card's), else the model folder's


def model_sources(model_paths: list[Path], checkpoint: str, need_plugins: bool, stack: ExitStack) -> list[ModelSource]:
    """Model folders as given (with ``checkpoint``), and those of each archive unpacked for
    the duration of ``stack`` with the checkpoint it holds; ``need_plugins``: refuse an
    archive whose architectures are not installed."""
    sources = []
    for path in map(Path, model_paths):
        if is_archive(path):
            archived = stack.enter_context(unpacked_archive(path, need_plugins=need_plugins))
            sources += [ModelSource(model.folder, model.checkpoint, path.stem) for model in archived]
        elif path.is_dir():
            sources.append(ModelSource(path, checkpoint, path.name))
        else:
            raise CovplanError(f"{path}: neither a model folder (WORK/<arch>__<configuration>) nor a model archive "
                               f"(.zip from `covplan export`)")
    return sources
