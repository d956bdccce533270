"""What report.html's viewer gets of one case: its image, its masks and, where predict saved
one, its uncertainty map, made small enough that a page of many cases opens at once.

How a 512 x 512 x 300 CT becomes about 5.5 MB of page (docs/report.md has the measurements):

- **Blocks**: at most 256 pixels a side and 512 slices; a block of f x f pixels (and k
  slices beyond 512) becomes one voxel: the image its mean, the masks the highest layer
  code in it (lesions are coded above lungs, so a one-voxel lesion stays visible, over the
  lung), the uncertainty its maximum.
- **The image**: windowed once to 8 bits over the span of its windows (-1350 to 240 HU in
  HU: 6.2 HU a step, both the lung and the mediastinal window inside), and stored as one
  JPEG mosaic of its slices that the browser decodes itself: less than half the size of
  the same bytes lossless, and JPEG's error (1.2 grey steps on average on a real CT) is
  below CT noise.
- **Masks and uncertainty**: one byte a voxel, zlib-compressed (the browser inflates them
  with its own DecompressionStream): masks shrink a hundredfold.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image

from covplan.labels.roles import LabelRoles
from covplan.reporting.figures import label_colours
from covplan.reporting.windows import image_windows

MAX_PIXELS = 256
MAX_SLICES = 512
JPEG_QUALITY = 90
JPEG_BLOCK = 8  # tiles padded to whole JPEG blocks, so that no block mixes two slices


def _combine_blocks(array: np.ndarray, factors: Sequence[int], combine: np.ufunc) -> np.ndarray:
    """``combine`` over the voxels of each block: one strided view per position in the
    block, one axis at a time (ten times faster on a CT than reducing a reshaped array)."""
    for axis, factor in enumerate(factors):
        if factor == 1:
            continue
        if array.shape[axis] % factor:  # the edge repeated to whole blocks
            padding = [(0, 0)] * array.ndim
            padding[axis] = (0, -array.shape[axis] % factor)
            array = np.pad(array, padding, mode="edge")
        views = [array[(slice(None),) * axis + (slice(start, None, factor),)] for start in range(factor)]
        array = functools.reduce(combine, views)
    return array


def block_max(array: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The maximum of each block of ``factors`` voxels (the edges repeated to whole blocks)."""
    return _combine_blocks(array, factors, np.maximum)


def block_mean(array: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The float32 mean of each block of ``factors`` voxels (the edges repeated to whole blocks)."""
    return _combine_blocks(array.astype(np.float32, copy=False), factors, np.add) / float(np.prod(factors))


def reduction_factors(shape: Sequence[int]) -> tuple[int, int, int]:
    """Slices and pixels a viewer voxel stands for, along z, y and x."""
    in_plane = max(1, math.ceil(max(shape[1:]) / MAX_PIXELS))
    return max(1, math.ceil(shape[0] / MAX_SLICES)), in_plane, in_plane


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _deflated(array: np.ndarray) -> str:
    return _base64(zlib.compress(np.ascontiguousarray(array, np.uint8).tobytes(), 6))


def _jpeg_mosaic(grey: np.ndarray) -> dict[str, Any]:
    """The (z, y, x) uint8 slices side by side in one JPEG, row by row."""
    slices, height, width = grey.shape
    tile = [-(-height // JPEG_BLOCK) * JPEG_BLOCK, -(-width // JPEG_BLOCK) * JPEG_BLOCK]
    columns = math.ceil(math.sqrt(slices))
    mosaic = np.zeros((math.ceil(slices / columns) * tile[0], columns * tile[1]), np.uint8)
    for index, grey_slice in enumerate(grey):
        row, column = divmod(index, columns)
        mosaic[row * tile[0]:row * tile[0] + height, column * tile[1]:column * tile[1] + width] = grey_slice
    buffer = io.BytesIO()
    Image.fromarray(mosaic).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return {"jpeg": _base64(buffer.getvalue()), "columns": columns, "tile": tile}


def _image_part(image: np.ndarray, factors: Sequence[int]) -> dict[str, Any]:
    reduced = block_mean(image, factors)
    windows = image_windows(reduced)
    low, high = min(window.low for window in windows), max(window.high for window in windows)
    grey = np.clip(np.rint((reduced - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    return {**_jpeg_mosaic(grey), "encoding": [low, high],
            "windows": [{"name": window.name, "low": window.low, "high": window.high} for window in windows]}


def _layers(roles: LabelRoles) -> list[dict[str, Any]]:
    """Code 1, 2, ... per label, the lungs first so that a lesion's code is higher."""
    colours = label_colours(roles.lung_labels, roles.lesion_labels)
    lung = set(roles.lung_labels)
    return [{"code": code, "label": label, "name": roles.names[label], "kind": "lung" if label in lung else "lesion",
             "colour": [round(255 * channel) for channel in to_rgb(colours[label])]}
            for code, label in enumerate(colours, start=1)]


def _layer_codes(label_map: np.ndarray, layers: list[dict[str, Any]]) -> np.ndarray:
    """Each voxel's layer code (0: none, the ignore label too), looked up in one pass."""
    table = np.zeros(max([int(label_map.max())] + [layer["label"] for layer in layers]) + 1, np.uint8)
    for layer in layers:
        table[layer["label"]] = layer["code"]
    return table[label_map]


def _start_position(codes: np.ndarray, lesion_codes: list[int], start_slice: int) -> list[int]:
    """Where the viewer opens: the given slice, cut by the row and the column with the
    most lesion on it (the middle without one)."""
    lesion = np.isin(codes[start_slice], lesion_codes)
    if not lesion.any():
        return [start_slice, codes.shape[1] // 2, codes.shape[2] // 2]
    return [start_slice, int(np.argmax(lesion.sum(axis=1))), int(np.argmax(lesion.sum(axis=0)))]


def viewer_payload(label_map: np.ndarray, spacing: Sequence[float], roles: LabelRoles, image: np.ndarray | None,
                   uncertainty: np.ndarray | None, start_slice: int) -> dict[str, Any]:
    """The viewer's data of a (z, y, x) label map with its spacing in mm, its image and
    uncertainty map (the same shape, or None), opening at axial slice ``start_slice``."""
    factors = reduction_factors(label_map.shape)
    layers = _layers(roles)
    codes = block_max(_layer_codes(label_map, layers), factors)
    lesion_codes = [layer["code"] for layer in layers if layer["kind"] == "lesion"]
    payload: dict[str, Any] = {
        "shape": list(codes.shape), "spacing": [float(size * factor) for size, factor in zip(spacing, factors)],
        "slices_per_voxel": factors[0], "start": _start_position(codes, lesion_codes, start_slice // factors[0]),
        "layers": [{key: layer[key] for key in ("code", "name", "kind", "colour")} for layer in layers],
        "masks": _deflated(codes),
        "image": None if image is None else _image_part(image, factors),
        "uncertainty": None,
    }
    if uncertainty is not None:
        reduced = block_max(uncertainty.astype(np.float32, copy=False), factors)
        highest = float(reduced.max())
        scaled = np.rint(reduced * (255.0 / highest)) if highest > 0 else np.zeros(reduced.shape)
        payload["uncertainty"] = {"data": _deflated(scaled), "max": highest}
    return payload
