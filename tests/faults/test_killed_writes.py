"""The fault harness, part two: SIGKILL at a command's first write (the OOM killer, a
pre-empted or timed-out cluster job), for convert, import and predict. The same checks as
for a full disk: the killed command printed no traceback; nothing half-written is taken as
done (what the output holds is complete, and running the command again finishes the work);
the inputs are byte-identical.

Each command runs as a process of its own (a kill has to end a real process), killed as
soon as a file appears where it writes (tests/processes.py); the reruns run in-process."""

from __future__ import annotations

import SimpleITK as sitk
from click.testing import CliRunner

from covplan.cli import cli
from covplan.output_folder import OUTPUT_RECORD
from tests.crafted_archives import write_crafted_archive
from tests.fault_mounts import tree_digest
from tests.processes import kill_at_first_new_file


def rerun(*arguments: object) -> None:
    result = CliRunner().invoke(cli, [str(argument) for argument in arguments])
    assert result.exit_code == 0, result.output


def test_a_killed_convert_leaves_no_output_folder_a_rerun_would_take_as_done(demo_source, tmp_path):
    source, output = demo_source("ct3d"), tmp_path / "converted"
    before = tree_digest(source)
    stderr = kill_at_first_new_file(["convert", "covid-ct-seg", str(source), str(output)], tmp_path)
    assert "Traceback" not in stderr
    assert not output.exists() or not any(output.iterdir())  # the staging folder beside it is hidden, never output
    rerun("convert", "covid-ct-seg", source, output)
    assert tree_digest(source) == before


def test_a_killed_import_leaves_no_half_model_folder(tmp_path):
    files = {f"plain_unet__3d_fullres/fold_0/part_{index:03d}.bin": bytes(64 * 1024) for index in range(64)}
    archive = write_crafted_archive(tmp_path / "model.zip", files=files)
    before = tree_digest(archive)
    target = tmp_path / "models"
    stderr = kill_at_first_new_file(["import", str(archive), str(target)], tmp_path)
    assert "Traceback" not in stderr
    # Either nothing, or the whole import with its record (the rename came before the kill).
    assert not target.exists() or (target / OUTPUT_RECORD).is_file()
    rerun("import", archive, target, "--overwrite")
    assert len(list((target / "plain_unet__3d_fullres" / "fold_0").iterdir())) == len(files)
    assert tree_digest(archive) == before


def test_a_killed_predict_leaves_no_label_map_a_rerun_keeps_half_written(trained_models, sphere_input, tmp_path):
    inputs = [sphere_input[0], trained_models["3d"]]
    before = [tree_digest(path) for path in inputs]
    output = tmp_path / "pred"
    arguments = ["predict", "-i", str(sphere_input[0]), "-o", str(output), "-m", str(trained_models["3d"]), "-f", "0",
                 "--no-tta", "--device", "cpu"]
    stderr = kill_at_first_new_file(arguments, tmp_path)
    assert "Traceback" not in stderr
    rerun(*arguments)
    assert not list(output.glob(".*.tmp*"))  # the killed run's temporaries are gone
    label_map = sitk.GetArrayFromImage(sitk.ReadImage(str(output / "ball.nii.gz")))  # complete, readable
    assert label_map.shape == sitk.GetArrayFromImage(sitk.ReadImage(str(sphere_input[0] / "ball_0000.nii.gz"))).shape
    assert [tree_digest(path) for path in inputs] == before
