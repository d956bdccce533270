"""covplan.output_folder: an output never overlaps an input, and --overwrite replaces only
a folder the command wrote (issue 29, item 5 and the overlap item)."""

from __future__ import annotations

import json

import pytest

from covplan.errors import CovplanError
from covplan.output_folder import OUTPUT_RECORD, refuse_overlap, refuse_unreplaceable, replaced_output_folder


@pytest.mark.parametrize("output, inputs", [
    ("data", ["data"]),  # the same folder
    ("data/out", ["data"]),  # inside the input
    (".", ["data"]),  # around it
    ("data/../data/out", ["data"]),  # `..` does not hide it
    ("out", ["link"]),  # nor a link to the output
    ("out", ["scan.nii.gz"]),  # an input file in the output folder
])
def test_an_output_folder_overlapping_an_input_is_refused_in_one_line(tmp_path, monkeypatch, output, inputs):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    (tmp_path / "out" / "scan.nii.gz").write_bytes(b"scan")
    inputs = ["out/scan.nii.gz" if name == "scan.nii.gz" else name for name in inputs]
    with pytest.raises(CovplanError, match=r"^output folder \S+ overlaps the input \S+ .*covplan never modifies$"):
        refuse_overlap(tmp_path / output, [tmp_path / name for name in inputs])


def test_apart_folders_and_an_output_file_beside_its_inputs_pass(tmp_path):
    refuse_overlap(tmp_path / "out", [tmp_path / "data", None, tmp_path / "data_2"])
    refuse_overlap(tmp_path / "models.zip", [tmp_path / "models"], output_is_file=True)
    with pytest.raises(CovplanError, match="output file"):
        refuse_overlap(tmp_path / "models" / "m.zip", [tmp_path / "models"], output_is_file=True)


def test_a_folder_the_command_wrote_is_replaced_and_recorded(tmp_path):
    for content in ("old", "new"):
        with replaced_output_folder(tmp_path / "report", overwrite=True, command="report") as staging:
            (staging / "sub").mkdir()
            (staging / "sub" / "a.txt").write_text(content)
    assert (tmp_path / "report" / "sub" / "a.txt").read_text() == "new"
    record = json.loads((tmp_path / "report" / OUTPUT_RECORD).read_text())
    assert record == {"command": "report", "files": ["sub/a.txt"]}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report"]


def test_overwrite_never_replaces_a_folder_holding_other_data(tmp_path):
    with replaced_output_folder(tmp_path / "models", overwrite=False, command="import") as staging:
        (staging / "model.pth").write_text("weights")
    (tmp_path / "models" / "notes.txt").write_text("the user's")
    with pytest.raises(CovplanError, match=r"holds files `covplan import` did not write \(notes.txt\); --overwrite"):
        refuse_unreplaceable(tmp_path / "models", overwrite=True, command="import")
    with pytest.raises(CovplanError, match="did not write"):  # another command's folder
        refuse_unreplaceable(tmp_path / "models", overwrite=True, command="report")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("no record")
    with pytest.raises(CovplanError, match=r"did not write \(data.csv\)"):
        refuse_unreplaceable(tmp_path / "other", overwrite=True, command="report")
    with pytest.raises(CovplanError, match="already exists; choose another output folder or pass --overwrite"):
        refuse_unreplaceable(tmp_path / "other", overwrite=False, command="report")
    assert (tmp_path / "models" / "notes.txt").read_text() == "the user's"
    (tmp_path / "empty").mkdir()
    refuse_unreplaceable(tmp_path / "empty", overwrite=False, command="report")  # new or empty: fine
