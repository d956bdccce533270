"""Where ``covplan predict``'s models come from: model folders as given, and the model
folders of archives unpacked (and verified) for the duration of the prediction."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from covplan.errors import CovplanError
from covplan.inference.archive_reader import is_archive, read_manifest, unpacked_archive


@dataclass(frozen=True)
class ModelSource:
    folder: Path
    checkpoint: str
    name: str  # the archive's name (its model card's), else the model folder's


def _refuse_archive_without_onnx(archive: Path) -> None:
    """An archive exported without --onnx has no network for ONNX Runtime; the fix names
    what the user has (the archive, or the model folder it came from), not the temporary
    folder it is unpacked into."""
    for entry in read_manifest(archive)["models"]:
        if "onnx" not in entry:
            folder = entry["folder"]
            raise CovplanError(f"{archive}: model {folder} was exported without --onnx, so --backend onnxruntime has "
                               f"no network to run; export it again with `covplan export WORK/{folder} --onnx -o "
                               f"{archive.name}` (with this archive only: `covplan import {archive} DIR`, then "
                               f"`covplan export DIR/{folder} --onnx -o {archive.stem}_onnx.zip`), or predict with "
                               f"--backend torch")


def model_sources(model_paths: list[Path], checkpoint: str, onnx_backend: bool, stack: ExitStack) -> list[ModelSource]:
    """Model folders as given (with ``checkpoint``), and those of each archive unpacked for
    the duration of ``stack`` with the checkpoint it holds. For ``onnx_backend`` an archive
    must hold ONNX networks, and the architectures' plugins need not be installed."""
    sources = []
    for path in map(Path, model_paths):
        if is_archive(path):
            if onnx_backend:
                _refuse_archive_without_onnx(path)
            archived = stack.enter_context(unpacked_archive(path, need_plugins=not onnx_backend))
            sources += [ModelSource(model.folder, model.checkpoint, path.stem) for model in archived]
        elif path.is_dir():
            sources.append(ModelSource(path, checkpoint, path.name))
        else:
            raise CovplanError(f"{path}: neither a model folder (WORK/<arch>__<configuration>) nor a model archive "
                               f"(.zip from `covplan export`)")
    return sources
