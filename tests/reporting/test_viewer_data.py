import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from covplan.labels.roles import label_roles
from covplan.reporting.viewer_data import block_max, block_mean, reduction_factors, viewer_payload

LUNG_INFECTION = label_roles({"labels": {"background": 0, "lung": 1, "infection": 2}})


def _inflated(text: str, shape) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).reshape(shape)


def test_blocks_repeat_the_edge_and_reduce_each_block():
    array = np.arange(10, dtype=np.float32).reshape(1, 2, 5)  # rows 0..4 and 5..9
    assert block_max(array, (1, 2, 2)).tolist() == [[[6, 8, 9]]]
    assert block_mean(array, (1, 2, 2)).tolist() == [[[3.0, 5.0, 6.5]]]  # the last block: 4, 4, 9, 9
    assert block_max(np.arange(6).reshape(3, 1, 2), (2, 1, 1)).tolist() == [[[2, 3]], [[4, 5]]]


def test_a_ct_keeps_every_slice_at_half_its_pixels_and_thin_slices_beyond_512_are_paired():
    assert reduction_factors((300, 512, 512)) == (1, 2, 2)
    assert reduction_factors((600, 256, 200)) == (2, 1, 1)
    assert reduction_factors((1, 630, 400)) == (1, 3, 3)


def test_the_payload_keeps_a_one_voxel_lesion_the_grey_values_and_the_uncertainty():
    label_map = np.zeros((3, 512, 512), np.uint8)
    label_map[:, 100:400, 100:400] = 1
    label_map[1, 301, 201] = 2  # one voxel: a 2 x 2 block's maximum keeps it
    image = np.where(label_map > 0, -850, 40).astype(np.float32)
    uncertainty = np.zeros(label_map.shape, np.float32)
    uncertainty[1, 300:302, 200:202] = 0.5
    payload = viewer_payload(label_map, (2.5, 0.7, 0.7), LUNG_INFECTION, image, uncertainty, start_slice=1)
    assert payload["shape"] == [3, 256, 256] and payload["spacing"] == pytest.approx([2.5, 1.4, 1.4])
    assert payload["start"] == [1, 150, 100]  # the row and the column through the lesion
    assert [(layer["code"], layer["name"], layer["kind"]) for layer in payload["layers"]] == [
        (1, "lung", "lung"), (2, "infection", "lesion")]
    codes = _inflated(payload["masks"], payload["shape"])
    assert codes[1, 150, 100] == 2 and np.count_nonzero(codes == 2) == 1 and codes[0, 150, 100] == 1

    picture = payload["image"]
    mosaic = np.asarray(Image.open(io.BytesIO(base64.b64decode(picture["jpeg"]))))
    assert picture["columns"] == 2 and picture["tile"] == [256, 256] and mosaic.shape == (512, 512)
    low, high = picture["encoding"]
    assert (low, high) == (-1350.0, 240.0)  # from the lung window's bottom to the mediastinal window's top
    second_slice = mosaic[:256, 256:512].astype(float) * (high - low) / 255 + low
    assert second_slice[150, 100] == pytest.approx(-850, abs=20) and second_slice[10, 10] == pytest.approx(40, abs=20)
    assert [window["name"] for window in picture["windows"]] == ["lung", "mediastinal"]

    assert payload["uncertainty"]["max"] == pytest.approx(0.5)
    assert _inflated(payload["uncertainty"]["data"], payload["shape"])[1, 150, 100] == 255


def test_a_case_without_image_or_uncertainty_has_masks_only():
    payload = viewer_payload(np.zeros((1, 8, 8), np.uint8), (1.0, 1.0, 1.0), LUNG_INFECTION, None, None, 0)
    assert payload["image"] is None and payload["uncertainty"] is None
    assert payload["start"] == [0, 4, 4] and _inflated(payload["masks"], (1, 8, 8)).max() == 0
