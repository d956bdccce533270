import pytest

from covplan.conversion.output import atomic_output_dir
from covplan.errors import CovplanError


def test_output_appears_whole_under_its_name(tmp_path):
    with atomic_output_dir(tmp_path / "out") as staging:
        (staging / "dataset.json").write_text("{}")
        assert staging.parent == tmp_path and staging.name.startswith(".out.") and staging.name.endswith(".tmp")
        assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "dataset.json").read_text() == "{}"


def test_failure_leaves_nothing_not_even_created_parents(tmp_path):
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output_dir(tmp_path / "new" / "deeper" / "out") as staging:
            (staging / "half.nii.gz").write_bytes(b"\x1f\x8b")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_empty_existing_folder_is_used(tmp_path):
    (tmp_path / "out").mkdir()
    with atomic_output_dir(tmp_path / "out") as staging:
        (staging / "a").write_text("a")
    assert (tmp_path / "out" / "a").read_text() == "a"


def test_non_empty_output_and_output_inside_source_are_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(CovplanError, match=r"out already exists and is not an empty folder; choose a new"):
        with atomic_output_dir(tmp_path / "out"):
            pass
    with pytest.raises(CovplanError, match="overlaps the input"):
        with atomic_output_dir(tmp_path / "src" / "converted", source_dir=tmp_path / "src"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"
