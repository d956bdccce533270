import pytest

from covplan.atomic import atomic_directory, atomic_file


def test_atomic_file_replaces_the_target_only_on_success(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    with atomic_file(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert [path.name for path in tmp_path.iterdir()] == ["summary.json"]


def test_atomic_directory_leaves_nothing_behind_when_the_work_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "report") as staging:
            (staging / "report.csv").write_text("half")
            raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_replaces_an_old_folder_when_allowed(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "old.txt").write_text("old")
    with atomic_directory(tmp_path / "report", overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [path.name for path in (tmp_path / "report").iterdir()] == ["new.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["report"]
