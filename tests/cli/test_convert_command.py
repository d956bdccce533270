from click.testing import CliRunner

from covplan.cli import cli
from covplan.demo_data.layouts import write_demo_data


def test_convert_help_lists_the_converters_and_each_its_options():
    runner = CliRunner()
    listing = runner.invoke(cli, ["convert", "--help"])
    assert listing.exit_code == 0
    for name in ("covid-ct-seg", "msd-lung", "slices"):
        assert f"  {name}  " in listing.output
    slices_help = runner.invoke(cli, ["convert", "slices", "--help"])
    assert slices_help.exit_code == 0
    assert "Usage: cli convert slices [OPTIONS] SRC_DIR OUT_DIR" in slices_help.output
    for option in ("--intensity [auto|grey8|hu]", "--merge-lesions", "-j, --num-processes", "--skip-bad", "Example:"):
        assert option in slices_help.output
    unknown = runner.invoke(cli, ["convert", "dicomdir", "a", "b"])
    assert unknown.exit_code == 2
    assert "unknown converter 'dicomdir'; known: covid-ct-seg, msd-lung, slices" in unknown.output


def test_demo_data_then_convert_prints_a_summary(tmp_path):
    runner = CliRunner()
    made = runner.invoke(cli, ["demo-data", str(tmp_path / "raw"), "--kind", "ct3d", "--cases", "2", "--size", "16"])
    assert made.exit_code == 0, made.output
    converted = runner.invoke(cli, ["convert", "covid-ct-seg", str(tmp_path / "raw"), str(tmp_path / "out"), "-j", "2"])
    assert converted.exit_code == 0, converted.output
    assert f"2 cases written to {tmp_path / 'out'}, 0 skipped" in converted.output
    assert (tmp_path / "out" / "labelsTr" / "coronacases_001.nii.gz").is_file()


def test_bad_input_is_one_error_line_and_skip_bad_lists_the_case(tmp_path):
    write_demo_data(tmp_path / "raw", "slices", num_cases=2, size=16)
    (tmp_path / "raw" / "p002" / "masks" / "001_ggo.png").unlink()
    (tmp_path / "raw" / "p002" / "masks" / "001_consolidation.png").unlink()
    (tmp_path / "raw" / "p002" / "masks" / "001_fibrosis.png").unlink()
    runner = CliRunner()
    failed = runner.invoke(cli, ["convert", "slices", str(tmp_path / "raw"), str(tmp_path / "out")])
    assert failed.exit_code == 1
    error_lines = [line for line in failed.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "p002/masks/001.png: mask missing for" in error_lines[0]
    assert "Traceback" not in failed.output and not (tmp_path / "out").exists()

    skipped = runner.invoke(cli, ["convert", "slices", str(tmp_path / "raw"), str(tmp_path / "out"), "--skip-bad"])
    assert skipped.exit_code == 0
    assert "3 cases written" in skipped.output and "  skipped p002_001: " in skipped.output
