"""A cheap check that each preprocessed file of a fold can be opened, before training starts.

nnU-Net's loaders open a case only when a batch draws it: a truncated ``.b2nd`` (a full disk
or a killed copy) stops training mid-epoch with blosc2's ``RuntimeError``, which names
neither the case nor the fix. Opening a file reads its header and, for blosc2 and zip, the
index at its end, so a truncated file is found without decompressing any voxel.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import blosc2

from covplan.errors import CovplanError


def refuse_unreadable_case_file(path: Path, case: str, rebuild: str) -> None:
    """Refuse ``path`` (a ``.b2nd``, ``.npz`` or ``.pkl`` file of ``case``) when it cannot be
    opened, in one line naming it and ``rebuild``, the command that writes it again."""
    try:
        _open_case_file(path)
    except (RuntimeError, ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CovplanError(f"{path}: the preprocessed case {case} cannot be read ({reason}); the file is "
                           f"damaged or truncated: rebuild it with {rebuild}") from error


def _open_case_file(path: Path) -> None:
    if path.suffix == ".b2nd":
        blosc2.open(str(path), mode="r")
    elif path.suffix == ".npz":
        zipfile.ZipFile(path).close()
    else:
        with path.open("rb") as file:
            pickle.load(file)  # written by covplan's own preprocessing, never a user's file
