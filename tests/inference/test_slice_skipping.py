"""covplan predict with a 2D coarse_refine model that has a slice classifier: lesion-free
slices are skipped (all background, the input's size), counted and recorded;
--no-skip-negative segments every slice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from covplan.cli import cli
from covplan.inference import PredictionSettings, predict
from covplan.inference.slice_skipping import SLICE_CLASSIFICATION_FILE
from tests.input_images import write_disc_png

SHAPE = (36, 40)


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> Path:
    """A slice with a disc and a lesion-free slice (background grey and noise only)."""
    folder = tmp_path_factory.mktemp("slices")
    write_disc_png(folder / "disc.png", seed=3, shape=SHAPE)
    noise = np.random.default_rng(4).normal(70, 20, SHAPE)
    Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).save(folder / "empty.png")
    return folder


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_negative_slices_are_skipped_counted_and_recorded(classifier_work, slices, tmp_path):
    result = CliRunner().invoke(cli, ["predict", "-i", str(slices), "-o", str(tmp_path), "-m",
                                      str(classifier_work / "coarse_refine__2d"), "--no-tta", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "1 of 2 slices called negative and skipped" in result.output
    record = json.loads((tmp_path / SLICE_CLASSIFICATION_FILE).read_text())
    assert record["cases"]["empty"]["skipped"] and record["cases"]["empty"]["lesion_probability"] < 0.5
    assert not record["cases"]["disc"]["skipped"] and record["cases"]["disc"]["lesion_probability"] >= 0.5
    skipped = read_png(tmp_path / "empty.png")
    assert skipped.shape == SHAPE and not skipped.any()
    assert read_png(tmp_path / "disc.png").shape == SHAPE


def test_no_skip_negative_segments_every_slice(classifier_work, slices, tmp_path):
    settings = PredictionSettings(use_mirroring=False, device="cpu", skip_negative=False)
    result = predict(slices, tmp_path, [classifier_work / "coarse_refine__2d"], settings)
    assert sorted(result.written) == ["disc", "empty"]
    assert result.classified == [] and result.skipped == []
    assert not (tmp_path / SLICE_CLASSIFICATION_FILE).exists()


def test_saving_probabilities_segments_every_slice(classifier_work, slices, tmp_path):
    settings = PredictionSettings(use_mirroring=False, device="cpu", save_probabilities=True)
    result = predict(slices, tmp_path, [classifier_work / "coarse_refine__2d"], settings)
    assert result.skipped == [] and sorted(result.written) == ["disc", "empty"]
    assert np.load(tmp_path / "empty.npz")["probabilities"].shape == (2, 1, *SHAPE)
