"""--crop body: the body's box found on a CT-like phantom, mapped onto nnU-Net's preprocessed
grid, and a prediction that tiles only the box yet writes the whole image."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from covplan.inference import PredictionSettings, predict
from covplan.inference.crop import MARGIN_MM, CropBox, body_box, body_threshold, crop_box
from covplan.inference.model_loading import load_model
from covplan.inference.predict import available_cores
from covplan.inference.predictor import ModelPredictor
from tests.input_images import ball

SPACING_ZYX = (2.5, 0.8, 0.8)


def ct_phantom(shape=(40, 160, 200)) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Air (-1000 HU) with noise, an elliptic body of soft tissue (40 HU) holding two lungs
    (-850 HU) over part of the slices, and a thin table below it with a gap of air."""
    rng = np.random.default_rng(0)
    image = rng.normal(-1000, 20, shape).astype(np.float32)
    z, y, x = np.indices(shape)
    body = ((y - 70) / 45) ** 2 + ((x - 100) / 70) ** 2 <= 1
    body &= (z >= 5) & (z < 35)
    image[body] = 40
    for centre in (70, 130):
        image[body & (((y - 70) / 30) ** 2 + ((x - centre) / 22) ** 2 <= 1)] = -850
    image[:, 125:128, 20:180] = 200  # the table
    image[0, 0, 0] = 500  # a speck of noise
    return image, (slice(5, 35), slice(25, 116), slice(30, 171))


def test_the_box_is_the_body_with_its_margin_not_the_table_or_noise():
    image, body = ct_phantom()
    box = body_box(image, SPACING_ZYX, "hu")
    margins = [int(np.ceil(MARGIN_MM / spacing)) for spacing in SPACING_ZYX]
    for found, expected, margin, size in zip(box.slices, body, margins, image.shape):
        assert found.start == pytest.approx(max(0, expected.start - margin), abs=3)
        assert found.stop == pytest.approx(min(size, expected.stop + margin), abs=3)
    assert box.slices[1].stop < 125 + 1 + margins[1]  # the table lies outside but for the margin
    expected = np.prod([min(size, part.stop + margin) - max(0, part.start - margin)
                        for part, margin, size in zip(body, margins, image.shape)]) / image.size
    assert box.fraction == pytest.approx(expected, rel=0.05) and box.fraction < 0.85


def test_the_lung_box_is_the_lungs_with_their_margin():
    image, _ = ct_phantom()
    box = crop_box("lung", image, SPACING_ZYX, "hu")
    lungs = (slice(5, 35), slice(40, 101), slice(48, 153))  # both ellipses, over the body's slices
    margins = [int(np.ceil(MARGIN_MM / spacing)) for spacing in SPACING_ZYX]
    for found, expected, margin, size in zip(box.slices, lungs, margins, image.shape):
        assert found.start == pytest.approx(max(0, expected.start - margin), abs=3)
        assert found.stop == pytest.approx(min(size, expected.stop + margin), abs=3)
    assert box.fraction < body_box(image, SPACING_ZYX, "hu").fraction


def test_a_grey_image_is_thresholded_at_the_same_hu_through_the_window():
    image, _ = ct_phantom()
    grey = np.clip((image + 1250) / 1500 * 255, 0, 255)
    assert body_threshold("grey8") == pytest.approx(127.5)
    assert body_box(grey, SPACING_ZYX, "grey8") == body_box(image, SPACING_ZYX, "hu")


def test_no_tissue_or_crop_none_predicts_the_whole_image():
    air = np.full((10, 30, 30), -1000, np.float32)
    assert body_box(air, SPACING_ZYX, "hu").is_whole_image
    image, _ = ct_phantom()
    assert crop_box("none", image, SPACING_ZYX, "hu").is_whole_image


def test_the_box_maps_onto_the_preprocessed_grid_and_covers_a_patch():
    box = CropBox((slice(10, 30), slice(40, 100), slice(50, 150)), (40, 160, 200))
    # nnU-Net cropped rows 0..4 away (non-zero crop) and resampled y and x by a half.
    properties = {"bbox_used_for_cropping": [[0, 40], [4, 160], [0, 200]],
                  "shape_after_cropping_and_before_resampling": (40, 156, 200)}
    region = box.in_preprocessed(properties, (0, 1, 2), (40, 78, 100), (16, 32, 32))
    # y: rows 36..96 of the cropped image are 18..48 resampled, widened to the 32 of a patch.
    assert region == (slice(10, 30), slice(17, 49), slice(25, 75))
    small = CropBox((slice(18, 22), slice(70, 80), slice(95, 105)), (40, 160, 200))
    widened = small.in_preprocessed(properties, (0, 1, 2), (40, 78, 100), (16, 32, 32))
    assert [part.stop - part.start for part in widened] == [16, 32, 32]
    assert widened[0].start <= 18 and widened[0].stop >= 22


class VoxelWise(torch.nn.Module):
    """Logits (-x, x) of each voxel's normalised value: no context, so whichever tile
    covers a voxel, its logits are the same, and a crop must change nothing inside it."""

    def forward(self, x):
        return torch.cat([-x, x], dim=1)


@pytest.fixture(scope="module")
def ball_in_air(tmp_path_factory):
    """The sphere model's ball (values 0..2 with noise) in a body of the same values,
    surrounded by a wide margin of air."""
    image, _ = ball((20, 24, 24), seed=3)
    volume = np.full((20, 120, 120), -1000.0, np.float32)
    volume[:, 48:72, 48:72] = image
    path = tmp_path_factory.mktemp("input") / "ball_0000.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path))
    return path, volume


def test_only_the_box_is_tiled_and_a_voxel_wise_network_gives_the_same_labels(trained_models, ball_in_air):
    volume = ball_in_air[1]
    predictor = ModelPredictor(load_model(trained_models["3d"], [0]), torch.device("cpu"), use_mirroring=False,
                               threads=available_cores())
    network = VoxelWise()
    predictor._fold_network = lambda fold: network
    tiles = []
    network.register_forward_hook(lambda module, inputs, output: tiles.append(inputs[0].shape))
    preprocessed, properties = predictor.preprocess(volume[None], {"spacing": [1.0, 1.0, 1.0]})
    outputs = {}
    for crop in ("none", "body"):
        tiles.clear()
        box = crop_box(crop, volume, (1.0, 1.0, 1.0), None)
        [outputs[crop]] = predictor.fold_outputs(preprocessed, properties, probabilities=False, box=box)
        outputs[f"{crop} tiles"] = len(tiles)
    assert 0 < outputs["body tiles"] < outputs["none tiles"] / 2
    assert outputs["body"].shape == volume.shape
    assert outputs["body"][:, 48:72, 48:72].all()  # the body: foreground for this network
    assert (outputs["body"] == outputs["none"]).all()


def test_outside_the_box_is_background_for_certain(trained_models, ball_in_air, tmp_path):
    path, volume = ball_in_air
    settings = dict(folds=[0], use_mirroring=False, device="cpu", save_probabilities=True)
    predict(path.parent, tmp_path / "body", [trained_models["3d"]], PredictionSettings(crop="body", **settings))
    probabilities = np.load(tmp_path / "body" / "ball.npz")["probabilities"]
    assert probabilities.shape == (2, *volume.shape)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    outside = np.ones(volume.shape, bool)
    outside[body_box(volume, (1.0, 1.0, 1.0), None).slices] = False
    assert outside.any() and (probabilities[0][outside] == 1.0).all()
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "body" / "ball.nii.gz")))
    assert not labels[outside].any()
