"""``--init-from MODEL_FOLDER|ARCHIVE``: the trained model a run starts from, opened once
for planning and for every fold. An archive (``covplan export``) is unpacked and verified
into ``WORK/init_from/<archive name>/``, where each fold (a job on another node, a resumed
run) finds the same weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from covplan.errors import CovplanError
from covplan.file_hashes import file_sha256
from covplan.inference.archive_reader import MANIFEST_FILE, check_plugins, import_archive, is_archive, read_manifest
from covplan.json_files import read_json_if_present
from covplan.planning.init_source import SourceModel, read_source_model, source_fold
from covplan.training import TrainingSettings, train_folds
from covplan.work_folder import CHECKPOINT_FINAL, CHECKPOINTS, Fold, fold_folder, init_from_archive_folder


def open_source_model(path: Path, work: Path) -> SourceModel:
    """The model folder, or the one model of the archive, at ``path`` as the source of a
    run in ``work``. An archive of several models is refused: a run starts from one."""
    path = Path(path)
    if not is_archive(path):
        if not path.is_dir():
            raise CovplanError(f"--init-from {path}: no such model folder or archive; give WORK/<arch>__<configuration> "
                               f"or a .zip from `covplan export`")
        checkpoint = fold_folder(path, source_fold(path)) / CHECKPOINT_FINAL
        return read_source_model(path, path, file_sha256(checkpoint))
    manifest = read_manifest(path)
    check_plugins(path, manifest)
    models = manifest["models"]
    if len(models) != 1:
        raise CovplanError(f"--init-from {path}: the archive holds {len(models)} models "
                           f"({', '.join(entry['folder'] for entry in models)}) and a run starts from one; unpack it "
                           f"with `covplan import {path} -o DIR` and give --init-from DIR/<model folder>")
    folder = init_from_archive_folder(work, path)
    # Unpacked before from the same archive (its manifest lists every file's checksum): reused,
    # so that folds training side by side never see it replaced.
    if read_json_if_present(folder / MANIFEST_FILE, "give --init-from the archive again") != manifest:
        import_archive(path, folder, overwrite=True)
    return read_source_model(folder / models[0]["folder"], path, file_sha256(path), CHECKPOINTS[models[0]["checkpoint"]])


def train_folds_from(work: Path, architecture: str, folds: Sequence[Fold], configuration: str | None = None,
                     settings: TrainingSettings | None = None, resume: bool = False,
                     init_from: Path | None = None) -> str | None:
    """:func:`covplan.training.train_folds`, each fold that starts beginning with the
    weights of the model folder or archive ``init_from`` (when given)."""
    source = open_source_model(init_from, work) if init_from is not None else None
    return train_folds(work, architecture, folds, configuration, settings, resume=resume, init_from=source)
