"""``--init-from`` in training: the source's tensors are in the network before the first
step, output heads are re-initialised when the labels differ (and kept when they agree), a
source of which nothing fits is refused, and the fold records what it loaded. The sources
are the session's trained models; the folds here train two steps of the tiny patch, only to
show that a fold started so runs and writes its record."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from covplan.architectures.base import get_architecture
from covplan.errors import CovplanError
from covplan.export.archive import export_archive
from covplan.export.model_card import model_card
from covplan.file_hashes import file_sha256
from covplan.inference.archive_reader import read_manifest, unpacked_archive
from covplan.planning import plan_dataset
from covplan.planning.init_source import read_source_model
from covplan.preprocessing import preprocess
from covplan.training import TrainingSettings, load_training_inputs, train_fold
from covplan.training.checkpoints import load_checkpoint
from covplan.training.init_from import head_tensor_names, load_initial_weights
from tests.raw_datasets import BALL, write_raw_dataset

TWO_STEPS = TrainingSettings(num_epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0,
                             evaluate=False, test_time_mirroring=False)
# The discs again, but their label is called a lesion: the source's head means something else.
LESIONS = dataclasses.replace(BALL, labels={"background": 0, "lesion": 1})


def source_model(folder: Path):
    return read_source_model(folder, folder, "0" * 64)


@pytest.fixture(scope="module")
def lesion_work(trained_models, tmp_path_factory) -> Path:
    """Four discs labelled 'lesion', planned with the 2D source's plans and preprocessed.
    Read it, never write."""
    root = tmp_path_factory.mktemp("lesion_work")
    raw = write_raw_dataset(root / "Dataset603_Lesions", num_cases=4, shape_zyx=(40, 40), spacing_xyz=(1.0, 1.0),
                            seed=3, phantom=LESIONS)
    plan_dataset(raw, root / "work", ["plain_unet"], num_folds=2, num_processes=1,
                 init_from=source_model(trained_models["2d"]))
    preprocess(root / "work", ["plain_unet"], ["2d"], 1)
    return root / "work"


def build_network(inputs) -> torch.nn.Module:
    return get_architecture("plain_unet").build_network(inputs.plan, inputs.num_input_channels,
                                                        inputs.label_manager.num_segmentation_heads,
                                                        deep_supervision=True)


def source_weights(source) -> dict[str, torch.Tensor]:
    return load_checkpoint(source.checkpoint)["network_weights"]


def test_matching_tensors_are_loaded_and_the_heads_reinitialised_for_other_labels(trained_models, lesion_work):
    source = source_model(trained_models["2d"])
    inputs = load_training_inputs(lesion_work, "plain_unet")
    network = build_network(inputs)
    record = load_initial_weights(network, source, get_architecture("plain_unet"), inputs)
    loaded, weights = network.state_dict(), source_weights(source)
    heads = {name for name in loaded if ".seg_layers." in name}  # nnU-Net's name for them
    assert heads and set(record["skipped"]) == heads
    assert set(record["loaded"]) == set(loaded) - heads
    assert all(torch.equal(loaded[name], weights[name]) for name in record["loaded"])
    assert not any(torch.equal(loaded[name], weights[name]) for name in heads if name.endswith("weight"))
    assert record["heads"] == "re-initialised: the labels differ"
    assert set(record["skipped"].values()) == {"output head re-initialised: the labels differ"}


def test_the_heads_are_loaded_too_when_the_labels_agree(trained_models, nnunet_work_root):
    source = source_model(trained_models["2d"])
    inputs = load_training_inputs(nnunet_work_root / "work2d", "plain_unet")  # the source's own dataset
    network = build_network(inputs)
    record = load_initial_weights(network, source, get_architecture("plain_unet"), inputs)
    weights = source_weights(source)
    assert record["skipped"] == {} and record["heads"] == "loaded: same labels"
    assert all(torch.equal(tensor, weights[name]) for name, tensor in network.state_dict().items())


def test_the_heads_are_found_by_the_number_of_classes(nnunet_work_root):
    inputs = load_training_inputs(nnunet_work_root / "work2d", "plain_unet")
    heads = head_tensor_names(get_architecture("plain_unet"), inputs.plan, 1, 2)
    assert heads == {name for name in build_network(inputs).state_dict() if ".seg_layers." in name}


def test_a_source_of_which_no_tensor_fits_is_refused(trained_models, nnunet_work_root):
    source = source_model(trained_models["2d"])
    inputs = load_training_inputs(nnunet_work_root / "work2d", "plain_unet")
    plans = json.loads(json.dumps(inputs.plans))
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["features_per_stage"] = [6, 12, 24]
    wider = dataclasses.replace(inputs, plans=plans)
    with pytest.raises(CovplanError, match="architecture differs: not one tensor of .* fits the network of "
                                           "'plain_unet' 2d here"):
        load_initial_weights(build_network(wider), source, get_architecture("plain_unet"), wider)


def test_a_fold_started_from_a_model_records_what_it_loaded_and_the_card_shows_it(trained_models, lesion_work,
                                                                                  tmp_path):
    work = Path(shutil.copytree(lesion_work, tmp_path / "work"))
    source = source_model(trained_models["2d"])
    train_fold(work, "plain_unet", 0, settings=TWO_STEPS, init_from=source)
    fold = work / "plain_unet__2d" / "fold_0"
    record = json.loads((fold / "init_from.json").read_text())
    assert record["source"]["origin"] == str(trained_models["2d"])
    assert (record["source"]["fold"], record["source"]["checkpoint"]) == ("0", "checkpoint_final.pth")
    assert record["checkpoint_sha256"] == file_sha256(source.checkpoint)
    assert record["labels"] == {"source": {"background": 0, "ball": 1}, "target": {"background": 0, "lesion": 1}}
    assert record["tensors_loaded"] == len(record["loaded"]) > 0
    # Deep supervision: a head (weight and bias) per output.
    assert record["tensors_skipped"] == len(record["skipped"]) == 4

    archive = tmp_path / "fine_tuned.zip"
    export_archive([work / "plain_unet__2d"], archive, folds=[0])
    with unpacked_archive(archive) as models:
        card = model_card(read_manifest(archive), models[0].folder.parent)
    assert (f"- Fold 0 started from {trained_models['2d']} (plain_unet__2d fold 0, trained on Dataset002_Disc; "
            f"checkpoint sha256 {record['checkpoint_sha256'][:16]}...): {record['tensors_loaded']} tensors loaded, "
            f"4 left at their initialisation; output heads re-initialised: the labels differ") in card


def test_a_3d_model_starts_a_3d_fold(trained_models, sphere_work):
    source = source_model(trained_models["3d"])  # trained on these spheres, with these plans
    train_fold(sphere_work, "plain_unet", 2, settings=TWO_STEPS, init_from=source)
    record = json.loads((sphere_work / "plain_unet__3d_fullres" / "fold_2" / "init_from.json").read_text())
    assert record["source"]["configuration"] == "3d_fullres"
    assert record["heads"] == "loaded: same labels" and record["skipped"] == {}
