"""The cascade (3d_lowres, then 3d_cascade_fullres) on the tiny spheres of
tests/nnunet_work.py: its plans get a 3d_lowres configuration at twice the spacing (the
planner would add one only for images several times the patch), both stages train on two
folds, predict chains them from one command, nnU-Net's own predictor loads the second
stage, find-best ranks it and an archive carries both stages."""

from __future__ import annotations

import json
import shutil
from copy import deepcopy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from covplan.cli import cli
from covplan.errors import CovplanError
from covplan.training import TrainingSettings, train_fold
from covplan.training.data import AUGMENTATIONS
from covplan.work_folder import CASCADE, NEXT_STAGE_FOLDER, with_cascade_stages
from covplan.training.inputs import load_training_inputs

ARCH = "plain_unet"
LOWRES, CASCADE_MODEL, LOWRES_MODEL = "3d_lowres", f"{ARCH}__{CASCADE}", f"{ARCH}__3d_lowres"
SETTINGS = TrainingSettings(num_epochs=1, iterations_per_epoch=4, validation_iterations=1, num_workers=0,
                            test_time_mirroring=False)
PREDICT = ["--crop", "none", "--no-tta", "--device", "cpu", "--threads", "1"]


def _add_lowres_stage(work: Path, raw: Path) -> None:
    """Plan 3d_lowres at twice 3d_fullres's spacing with the cascade after it, as nnU-Net's
    planner links them, and preprocess it with nnU-Net's preprocessor; two folds."""
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans_file = work / f"plans_{ARCH}.json"
    plans = json.loads(plans_file.read_text())
    lowres = deepcopy(plans["configurations"]["3d_fullres"])
    lowres.update(spacing=[2 * s for s in lowres["spacing"]], patch_size=[12, 16, 16],
                  data_identifier="nnUNetPlans_3d_lowres", next_stage=CASCADE)
    plans["configurations"][LOWRES] = lowres
    plans["configurations"][CASCADE] = {"inherits_from": "3d_fullres", "previous_stage": LOWRES}
    plans_file.write_text(json.dumps(plans, indent=2))
    dataset_json = json.loads((work / "dataset.json").read_text())
    plans_manager = PlansManager(plans)
    output = work / lowres["data_identifier"]
    output.mkdir()
    for case in sorted(path.name.removesuffix(".nii.gz") for path in (raw / "labelsTr").glob("*.nii.gz")):
        DefaultPreprocessor(verbose=False).run_case_save(
            str(output / case), [str(raw / "imagesTr" / f"{case}_0000.nii.gz")],
            str(raw / "labelsTr" / f"{case}.nii.gz"), plans_manager, plans_manager.get_configuration(LOWRES),
            dataset_json)
    cases = [f"case_{index:03d}" for index in range(6)]
    (work / "splits_final.json").write_text(json.dumps([{"train": cases[3:], "val": cases[:3]},
                                                        {"train": cases[:3], "val": cases[3:]}]))


@pytest.fixture(scope="module")
def cascade_work(nnunet_work_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spheres' WORK folder with the cascade planned and preprocessed, nothing trained."""
    work = Path(shutil.copytree(nnunet_work_root / "work3d", tmp_path_factory.mktemp("cascade") / "work"))
    _add_lowres_stage(work, nnunet_work_root / "raw" / "Dataset001_Sphere")
    return work


@pytest.fixture(scope="module")
def trained_cascade(cascade_work: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both stages trained on both folds (first stage first), in a copy. Read it, never write."""
    work = Path(shutil.copytree(cascade_work, tmp_path_factory.mktemp("trained_cascade") / "work"))
    for configuration in (LOWRES, CASCADE):
        for fold in (0, 1):
            train_fold(work, ARCH, fold, configuration, SETTINGS)
    return work


def test_the_second_stage_before_the_first_is_refused_in_one_line(cascade_work: Path):
    result = CliRunner().invoke(cli, ["train", str(cascade_work), "-a", ARCH, "-c", CASCADE, "-f", "0",
                                      "--epochs", "1", "--num-workers", "0"])
    assert result.exit_code == 1
    missing = cascade_work / LOWRES_MODEL / NEXT_STAGE_FOLDER / CASCADE
    assert result.output.startswith(f"Error: {missing}: the first stage's predictions of 6 case(s) are missing")
    assert result.output.endswith(f"`covplan train {cascade_work} -a {ARCH} -c {LOWRES} --folds 0 1`\n")
    assert result.output.count("\n") == 1
    assert not (cascade_work / CASCADE_MODEL).exists()


def test_planning_the_cascade_keeps_both_stages_with_it(cascade_work: Path):
    from covplan.planning.plan import _covplan_plans
    from covplan.architectures.base import get_architecture

    plans = json.loads((cascade_work / f"plans_{ARCH}.json").read_text())
    planner = SimpleNamespace(plugin=get_architecture(ARCH))
    kept = _covplan_plans(deepcopy(plans), planner, with_cascade_stages([CASCADE]), "Dataset001_Sphere")
    assert sorted(kept["configurations"]) == sorted(["3d_fullres", LOWRES, CASCADE])
    assert kept["configurations"][CASCADE] == {"inherits_from": "3d_fullres", "previous_stage": LOWRES}
    assert kept["configurations"][LOWRES]["next_stage"] == CASCADE
    alone = _covplan_plans(deepcopy(plans), planner, ["3d_fullres"], "Dataset001_Sphere")
    assert list(alone["configurations"]) == ["3d_fullres"]


def test_plan_and_train_trains_the_first_stage_on_every_fold_first(cascade_work: Path):
    from covplan.workflows.plan_and_train import training_stages

    assert training_stages(cascade_work, ARCH, CASCADE, [1], 2) == [(LOWRES, [0, 1]), (CASCADE, [1])]
    assert training_stages(cascade_work, ARCH, "3d_fullres", [1], 2) == [("3d_fullres", [1])]


def test_preprocessing_the_cascade_preprocesses_both_stages(cascade_work: Path):
    from covplan.preprocessing.preprocess import _preprocessing_jobs

    jobs = _preprocessing_jobs(cascade_work, [ARCH], [CASCADE])
    assert sorted(configuration for _, configuration in jobs.values()) == ["3d_fullres", LOWRES]


@pytest.mark.parametrize("augmentation", AUGMENTATIONS)
def test_every_augmentation_moves_the_first_stage_into_the_input(cascade_work: Path, augmentation: str):
    from covplan.training.data import build_augmentation

    inputs = load_training_inputs(cascade_work, ARCH, CASCADE)
    pipeline = build_augmentation(augmentation, inputs, None)
    patch_size = tuple(inputs.configuration_manager.patch_size)
    # Training crops the loader's larger patch; validation takes patches of the network's size.
    for transforms, shape in ((pipeline.training_transforms, pipeline.loader_patch_size),
                              (pipeline.validation_transforms, patch_size)):
        labels = torch.zeros((1, *shape), dtype=torch.int16)
        first_stage = torch.zeros((1, *shape), dtype=torch.int16)
        first_stage[0, :, : shape[1] // 2] = 1
        batch = transforms(image=torch.randn((1, *shape)), segmentation=torch.cat((labels, first_stage)))
        assert batch["image"].shape == (2, *patch_size)
        assert batch["segmentation"].shape[0] == 1
        assert set(batch["image"][1].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.slow
def test_the_first_stage_predicts_every_case_for_the_second_on_its_grid(trained_cascade: Path):
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    inputs = load_training_inputs(trained_cascade, ARCH, CASCADE)
    assert inputs.num_input_channels == 2  # the image and the one-hot ball
    predictions = nnUNetDatasetBlosc2(str(inputs.preprocessed_folder), None, str(inputs.previous_stage_predictions))
    assert len(predictions.identifiers) == 6
    for case in predictions.identifiers:
        data, _, first_stage, _ = predictions.load_case(case)
        assert first_stage.shape == data.shape[1:]
        assert set(np.unique(first_stage[:])) <= {0, 1}
    checkpoint = torch.load(trained_cascade / CASCADE_MODEL / "fold_0" / "checkpoint_final.pth", weights_only=False)
    first_weights = next(tensor for tensor in checkpoint["network_weights"].values() if tensor.ndim == 5)
    assert first_weights.shape[1] == 2
    for fold in (0, 1):
        summary = json.loads((trained_cascade / CASCADE_MODEL / f"fold_{fold}" / "validation" / "summary.json")
                             .read_text())
        assert len(summary["metric_per_case"]) == 3


@pytest.fixture
def new_images(nnunet_work_root: Path, tmp_path: Path) -> Path:
    """A folder with one of the spheres' images."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(nnunet_work_root / "raw" / "Dataset001_Sphere" / "imagesTr" / "case_000_0000.nii.gz", images)
    return images


@pytest.mark.slow
def test_predict_chains_both_stages_and_nnunets_predictor_agrees(trained_cascade: Path, new_images: Path,
                                                                 tmp_path: Path):
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    output = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "-i", str(new_images), "-o", str(output),
                                      "-m", str(trained_cascade / CASCADE_MODEL), "-f", "0", *PREDICT])
    assert result.exit_code == 0, result.output
    image = sitk.ReadImage(str(new_images / "case_000_0000.nii.gz"))
    labels = sitk.ReadImage(str(output / "case_000.nii.gz"))
    assert labels.GetSize() == image.GetSize() and labels.GetSpacing() == image.GetSpacing()
    first = tmp_path / "first"
    result = CliRunner().invoke(cli, ["predict", "-i", str(new_images), "-o", str(first),
                                      "-m", str(trained_cascade / LOWRES_MODEL), "-f", "0", *PREDICT])
    assert result.exit_code == 0, result.output

    predictor = nnUNetPredictor(use_mirroring=False, perform_everything_on_device=False,
                                device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(trained_cascade / CASCADE_MODEL), (0,))
    # The image and the first stage's labels as nnU-Net's predictor reads them from files.
    reader = SimpleITKIO()
    data, properties = reader.read_images([str(new_images / "case_000_0000.nii.gz")])
    first_stage, _ = reader.read_seg(str(first / "case_000.nii.gz"))
    nnunet_labels = predictor.predict_single_npy_array(data, properties, first_stage)
    np.testing.assert_array_equal(nnunet_labels, sitk.GetArrayFromImage(labels))

    # The cascade is an ensemble member like any model.
    ensemble = tmp_path / "ensemble"
    result = CliRunner().invoke(cli, ["predict", "-i", str(new_images), "-o", str(ensemble), "-m",
                                      str(trained_cascade / CASCADE_MODEL), "-m", str(trained_cascade / LOWRES_MODEL),
                                      "-f", "0", "--save-probabilities", *PREDICT])
    assert result.exit_code == 0, result.output
    probabilities = np.load(ensemble / "case_000.npz")["probabilities"]
    assert probabilities.shape == (2, *data.shape[1:])


@pytest.mark.slow
def test_a_second_stage_without_its_first_names_it_and_takes_it_explicitly(trained_cascade: Path, tmp_path: Path):
    from covplan.inference.model_loading import load_model

    alone = Path(shutil.copytree(trained_cascade / CASCADE_MODEL, tmp_path / CASCADE_MODEL))
    with pytest.raises(CovplanError, match=f"needs its first stage {LOWRES_MODEL}, which is not in {tmp_path}; "
                                           f"give its model folder with --previous-stage DIR"):
        load_model(alone, [0])
    with pytest.raises(CovplanError, match="was trained on the segmentations of plain_unet__3d_lowres"):
        load_model(alone, [0], previous_stage=alone)
    model = load_model(alone, [0], previous_stage=trained_cascade / LOWRES_MODEL)
    assert model.previous_stage.configuration == LOWRES and model.previous_stage.folds == [0]


@pytest.mark.slow
def test_find_best_ranks_the_cascade_and_an_archive_carries_both_stages(trained_cascade: Path, new_images: Path,
                                                                        tmp_path: Path):
    from covplan.evaluation.find_best import find_best
    from covplan.export.archive import export_archive

    work = Path(shutil.copytree(trained_cascade, tmp_path / "work"))
    ranked = [entry["name"] for entry in find_best(work, num_processes=1)["ranking"]]
    assert sorted(ranked) == [CASCADE_MODEL, LOWRES_MODEL]

    manifest = export_archive([work / CASCADE_MODEL], tmp_path / "cascade.zip", folds=[0])
    assert [entry["folder"] for entry in manifest["models"]] == [CASCADE_MODEL]
    assert manifest["models"][0]["previous_stage"] == LOWRES_MODEL
    assert f"{LOWRES_MODEL}/fold_0/checkpoint_final.pth" in manifest["files"]
    import zipfile

    with zipfile.ZipFile(tmp_path / "cascade.zip") as archive:
        card = archive.read("MODEL_CARD.md").decode()
    assert f"- Cascade: each image is first segmented by {LOWRES_MODEL} (in this archive)" in card
    outputs = {}
    for name, model in (("archive", tmp_path / "cascade.zip"), ("folder", work / CASCADE_MODEL)):
        outputs[name] = tmp_path / name
        result = CliRunner().invoke(cli, ["predict", "-i", str(new_images), "-o", str(outputs[name]), "-m", str(model),
                                          "-f", "0", "--no-postprocess", *PREDICT])
        assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(*(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "case_000.nii.gz")))
                                    for folder in outputs.values()))


@pytest.mark.slow
def test_an_onnx_archive_of_the_cascade_predicts_with_onnx_runtime_as_torch_does(trained_cascade: Path,
                                                                                new_images: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime comes with covplan[onnx]")
    from covplan.export.archive import export_archive

    manifest = export_archive([trained_cascade / CASCADE_MODEL], tmp_path / "cascade.zip", folds=[0], onnx=True)
    assert {f"{CASCADE_MODEL}/fold_0/network.onnx", f"{LOWRES_MODEL}/fold_0/network.onnx"} <= set(manifest["files"])
    outputs = {}
    for name, options in (("torch", ["-m", str(trained_cascade / CASCADE_MODEL)]),
                          ("onnxruntime", ["-m", str(tmp_path / "cascade.zip"), "--backend", "onnxruntime"])):
        outputs[name] = tmp_path / name
        result = CliRunner().invoke(cli, ["predict", "-i", str(new_images), "-o", str(outputs[name]), *options,
                                          "-f", "0", "--no-postprocess", *PREDICT])
        assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(*(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "case_000.nii.gz")))
                                    for folder in outputs.values()))
