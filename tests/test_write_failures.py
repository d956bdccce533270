"""covplan.write_failures and the atomic writers: a write that fails for want of space or
permission becomes one line naming the file and the fix, and leaves no temporary behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from covplan.atomic import atomic_directory, atomic_file
from covplan.errors import CovplanError, WriteFailed
from covplan.write_failures import check_written, write_failure
from tests.fault_mounts import fill_disk


def test_errors_of_space_and_permission_name_the_file_and_the_fix(tmp_path):
    full = write_failure(OSError(errno.ENOSPC, "No space left on device", "/data/out/.x.nii.gz.1234.tmp"),
                         Path("/data/out/x.nii.gz"))  # the output, not the hidden temporary
    assert str(full) == ("/data/out/x.nii.gz: no space left on its disk; free some space there or choose an output "
                         "folder on another disk, then run the command again (nothing half-written was kept)")
    read_only = write_failure(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/.x.tmp"), Path("/mnt/ro/x"))
    assert str(read_only).startswith("/mnt/ro/x: cannot write there (Read-only file system); make the folder "
                                     "writable or choose an output folder you may write to")
    assert write_failure(CovplanError("bad input"), tmp_path) is None
    assert write_failure(RuntimeError("a bug"), tmp_path) is None  # a disk with space: not a write failure
    assert write_failure(KeyboardInterrupt(), tmp_path) is None


def test_an_atomic_write_that_runs_out_of_space_leaves_nothing(tmp_path):
    with pytest.raises(WriteFailed, match=r"no space left on its disk"):
        with atomic_file(tmp_path / "summary.json") as temporary:
            temporary.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_ignores_a_full_disk_is_caught_by_reading_back(small_disk):
    fill_disk(small_disk, left_free=0)
    short = small_disk / "labels.nii.gz"
    short.touch()  # what SimpleITK leaves on a full disk, without an error

    def read(path):
        raise RuntimeError(f"{path}: cannot read")

    with pytest.raises(WriteFailed, match=r"labels.nii.gz: no space left on its disk"):
        check_written(short, read)
    with pytest.raises(WriteFailed, match="no space left"):  # torch.save's error says neither the file nor why
        with atomic_file(small_disk / "checkpoint.pth"):
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert sorted(path.name for path in small_disk.iterdir()) == ["ballast.bin", "labels.nii.gz"]


def test_a_failure_inside_a_staged_folder_names_the_output_folder(tmp_path):
    with pytest.raises(WriteFailed, match=rf"^{tmp_path / 'converted' / 'imagesTr' / 'a.nii.gz'}: no space left"):
        with atomic_directory(tmp_path / "converted") as staging:
            with atomic_file(staging / "imagesTr" / "a.nii.gz"):
                raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
