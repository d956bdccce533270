import json
import threading
from pathlib import Path

import pytest
import SimpleITK as sitk

from covplan.conversion.dataset import CaseDropped, DatasetSpec, LoadedCase, SourceCase, convert_cases
from covplan.errors import CovplanError

SPEC = DatasetSpec("fake", {0: "CT"}, {"background": 0, "lesion": 1}, "hu",
                   patients={"p1": {"diagnosis": "covid", "severity": "mild"}})


def cases(source: Path, count: int) -> list[SourceCase]:
    source.mkdir(exist_ok=True)
    return [SourceCase(f"case_{i}", "p1" if i < 2 else f"p{i}", "test" if i == count - 1 else "train",
                       {"image": source / f"{i}.nii.gz"}) for i in range(count)]


def load(case: SourceCase) -> LoadedCase:
    index = int(case.case_id.split("_")[1])
    if index == 2:
        raise CovplanError(f"{case.source_files['image']}: broken")
    if index == 3:
        raise CaseDropped("left out by an option")
    image = sitk.Image((4, 4, 2), sitk.sitkInt16) - 1000
    label = None if case.subset == "test" else sitk.Image((4, 4, 2), sitk.sitkUInt8) + 1
    return LoadedCase([image], label, "hu")


def test_skip_bad_lists_broken_and_dropped_cases_and_writes_the_rest(tmp_path):
    summary = convert_cases(tmp_path / "src", tmp_path / "out", cases(tmp_path / "src", 5), load, SPEC,
                            workers=2, skip_bad=True)

    assert summary.written == ["case_0", "case_1", "case_4"]
    assert summary.skipped == {"case_2": f"{tmp_path / 'src' / '2.nii.gz'}: broken", "case_3": "left out by an option"}
    assert summary.lines()[0] == f"3 cases written to {tmp_path / 'out'}, 2 skipped"
    assert sorted(p.name for p in (tmp_path / "out" / "imagesTr").iterdir()) == ["case_0_0000.nii.gz",
                                                                                "case_1_0000.nii.gz"]
    assert [p.name for p in (tmp_path / "out" / "imagesTs").iterdir()] == ["case_4_0000.nii.gz"]
    dataset = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert dataset["numTraining"] == 2 and dataset["labels"] == {"background": 0, "lesion": 1}
    record = json.loads((tmp_path / "out" / "covplan_dataset.json").read_text())
    assert record["format_version"] == 1 and record["converter"] == "fake"
    assert record["source_dir"] == str(tmp_path / "src") and record["intensity_domain"] == "hu"
    assert record["cases"]["case_0"] == {"patient_id": "p1", "subset": "train", "source_files": {"image": "0.nii.gz"},
                                         "source_domain": "hu", "intensity_transform": "none"}
    assert record["patients"] == {"p1": {"diagnosis": "covid", "severity": "mild"}}


def test_first_bad_case_stops_everything_and_leaves_nothing(tmp_path):
    with pytest.raises(CovplanError, match="2.nii.gz: broken"):
        convert_cases(tmp_path / "src", tmp_path / "out", cases(tmp_path / "src", 5), load, SPEC, workers=2)
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_workers_convert_cases_in_parallel(tmp_path):
    threads = set()

    def slow_load(case: SourceCase) -> LoadedCase:
        threads.add(threading.get_ident())
        barrier.wait(timeout=10)  # both workers must be inside at once
        return load(case)

    barrier = threading.Barrier(2)
    summary = convert_cases(tmp_path / "src", tmp_path / "out", cases(tmp_path / "src", 2), slow_load, SPEC, workers=2)
    assert summary.written == ["case_0", "case_1"] and len(threads) == 2


def test_no_cases_and_no_training_case_are_refused(tmp_path):
    with pytest.raises(CovplanError, match="no cases found"):
        convert_cases(tmp_path, tmp_path / "out", [], load, SPEC)
    only_bad = [c for c in cases(tmp_path / "src", 5) if c.case_id in ("case_2", "case_3")]
    with pytest.raises(CovplanError, match=r"no training case could be converted \(2 skipped\)"):
        convert_cases(tmp_path / "src", tmp_path / "out", only_bad, load, SPEC, skip_bad=True)
    assert not (tmp_path / "out").exists()


def test_two_sources_of_one_case_id_are_refused(tmp_path):
    twins = [SourceCase("case_0", "p1", "train", {"image": tmp_path / name}) for name in ("a.nii", "a.nii.gz")]
    with pytest.raises(CovplanError, match=f"{tmp_path / 'a.nii.gz'}: same case id case_0 as {tmp_path / 'a.nii'}"):
        convert_cases(tmp_path, tmp_path / "out", twins, load, SPEC)


def load_with_empty_masks(empty_cases: set[str]):
    def load_case(case: SourceCase) -> LoadedCase:
        image = sitk.Image((4, 4, 2), sitk.sitkInt16) - 1000
        label = sitk.Image((4, 4, 2), sitk.sitkUInt8) + (0 if case.case_id in empty_cases else 1)
        return LoadedCase([image], label, "hu")
    return load_case


def train_cases(source: Path, count: int) -> list[SourceCase]:
    source.mkdir(exist_ok=True)
    return [SourceCase(f"case_{i}", f"p{i}", "train", {"image": source / f"{i}.nii.gz"}) for i in range(count)]


def test_an_empty_mask_is_named_in_a_warning(tmp_path, caplog):
    summary = convert_cases(tmp_path / "src", tmp_path / "out", train_cases(tmp_path / "src", 3),
                            load_with_empty_masks({"case_1"}), SPEC)
    assert summary.written == ["case_0", "case_1", "case_2"]
    assert "1 of 3 training masks are empty (background only): case_1" in caplog.text


def test_a_dataset_of_empty_masks_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(CovplanError, match=r"every one of the 3 training masks is empty"):
        convert_cases(tmp_path / "src", tmp_path / "out", train_cases(tmp_path / "src", 3),
                      load_with_empty_masks({"case_0", "case_1", "case_2"}), SPEC)
    assert [p.name for p in tmp_path.iterdir()] == ["src"]
