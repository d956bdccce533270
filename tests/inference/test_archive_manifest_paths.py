"""Every path an archive's manifest names lies inside the archive (issue 29, item 6): a
crafted ``"folder": "../../.."`` is refused in one line by predict and import alike."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.inference.archive_reader import import_archive, read_manifest
from tests.crafted_archives import MODEL_FOLDER, model_entry, write_crafted_archive


@pytest.mark.parametrize("entry", [
    model_entry("../../.."),
    model_entry("/etc"),
    model_entry("."),
    model_entry(f"{MODEL_FOLDER}/../.."),
    model_entry("not_in_the_archive"),
    model_entry(previous_stage="../plain_unet__3d_lowres"),
])
def test_a_manifest_naming_a_folder_outside_the_archive_is_refused(tmp_path, entry):
    archive = write_crafted_archive(tmp_path / "crafted.zip", [entry])
    with pytest.raises(CovplanError, match=r"crafted.zip: its manifest names the model folder .* which is not inside "
                                           r"the archive; use an archive `covplan export` wrote, or export it again$"):
        read_manifest(archive)
    with pytest.raises(CovplanError, match="not inside the archive"):
        import_archive(archive, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_predict_refuses_the_crafted_archive_in_one_line_before_loading_anything(tmp_path):
    archive = write_crafted_archive(tmp_path / "crafted.zip", [model_entry("../../..")])
    (tmp_path / "scan.nii.gz").write_bytes(b"not read")
    result = CliRunner().invoke(cli, ["predict", "-i", str(tmp_path / "scan.nii.gz"), "-o", str(tmp_path / "out"),
                                      "-m", str(archive)])
    assert result.exit_code == 1
    assert result.output == (f"Error: {archive}: its manifest names the model folder '../../..', which is not inside "
                             f"the archive; use an archive `covplan export` wrote, or export it again\n")
    assert not (tmp_path / "out").exists()


def test_an_archive_with_its_folder_inside_is_read(tmp_path):
    archive = write_crafted_archive(tmp_path / "fine.zip")
    assert [folder.name for folder in import_archive(archive, tmp_path / "models")] == [MODEL_FOLDER]
