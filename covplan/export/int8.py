"""Each fold's ONNX network quantized to int8 (``covplan export --onnx --int8``), kept only
when its labels agree with float32's.

Static quantization (ONNX Runtime's ``quantize_static``, QDQ format, int8 weights and
activations, min-max calibration) with calibration tiles drawn from the model's training
cases as preprocessed in WORK: per case one patch around a foreground voxel and one at the
case's centre, so that the activations of every class are seen. The same tiles then go
through the float32 and the int8 network; the arg-max labels of the two are compared per
foreground class (Dice over all tiles), and an int8 network below :data:`MIN_INT8_DICE` for
any class is refused with the figure. On CPUs with int8 instructions (AVX-512 VNNI, AMX) the
int8 network runs faster; on others it may not: docs/benchmarks.md has the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from covplan.errors import CovplanError
from covplan.inference.model_loading import TrainedModel
from covplan.inference.onnx_backend import inference_session

MIN_INT8_DICE = 0.99
CALIBRATION_CASES = 4
CALIBRATION_SEED = 0


def calibration_tiles(model: TrainedModel, cases: int = CALIBRATION_CASES) -> tuple[list[np.ndarray], list[str]]:
    """Float32 tiles ``(1, channels, *patch)`` from the first ``cases`` training cases
    preprocessed in WORK (two a case), and those cases' identifiers."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    folder = model.inputs.preprocessed_folder
    if not folder.is_dir():
        raise CovplanError(f"{model.folder}: --int8 calibrates on the training cases preprocessed in {folder}, which "
                           f"is not there; export from the WORK folder that trained the model, or without --int8")
    dataset_class = infer_dataset_class(str(folder))
    identifiers = sorted(dataset_class.get_identifiers(str(folder)))[:cases]
    dataset = dataset_class(str(folder), identifiers)
    patch = [int(size) for size in model.configuration_manager.patch_size]
    rng = np.random.default_rng(CALIBRATION_SEED)
    tiles = []
    for identifier in identifiers:
        data, segmentation = dataset.load_case(identifier)[:2]
        data, segmentation = np.asarray(data, dtype=np.float32), np.asarray(segmentation)
        foreground = np.argwhere(segmentation[0] > 0)
        centres = [np.array(data.shape[1:]) // 2]
        if len(foreground):
            centres.insert(0, foreground[rng.integers(len(foreground))])
        tiles += [_tile(data, centre, patch)[None] for centre in centres]
    return tiles, identifiers


def _tile(data: np.ndarray, centre: np.ndarray, patch: list[int]) -> np.ndarray:
    """The patch of ``data`` (channels first) around ``centre``, inside the image where it
    fits, zero-padded where the image is smaller; a 2D patch takes the centre's slice."""
    leading = len(centre) - len(patch)
    region = [slice(int(index), int(index) + 1) for index in centre[:leading]]
    for index, size, edge in zip(centre[leading:], data.shape[1 + leading:], patch):
        start = int(min(max(0, index - edge // 2), max(0, size - edge)))
        region.append(slice(start, start + edge))
    tile = data[(slice(None), *region)].reshape(data.shape[0], *[part.stop - part.start for part in region][leading:])
    padding = [(0, 0)] + [(0, edge - size) for size, edge in zip(tile.shape[1:], patch)]
    return np.pad(tile, padding)


def _labels(session, tile: np.ndarray) -> np.ndarray:
    return np.argmax(session.run(None, {session.get_inputs()[0].name: tile})[0][0], axis=0)


def label_agreement(float_network: Path, int8_network: Path, tiles: list[np.ndarray], classes: dict[int, str],
                    threads: int = 1) -> dict[str, float]:
    """Dice per foreground class between the two networks' arg-max labels over ``tiles``
    (1.0 for a class neither predicts)."""
    reference, quantized = inference_session(float_network, threads), inference_session(int8_network, threads)
    counts = {name: np.zeros(3) for name in classes.values()}  # both, only float32, only int8
    for tile in tiles:
        expected, found = _labels(reference, tile), _labels(quantized, tile)
        for index, name in classes.items():
            is_expected, is_found = expected == index, found == index
            counts[name] += [np.sum(is_expected & is_found), np.sum(is_expected & ~is_found),
                             np.sum(~is_expected & is_found)]
    return {name: float(2 * both / (2 * both + only_float + only_int8)) if both + only_float + only_int8 else 1.0
            for name, (both, only_float, only_int8) in counts.items()}


def quantize_fold(network: Path, tiles: list[np.ndarray], classes: dict[int, str], what: str,
                  threads: int = 1) -> dict[str, Any]:
    """Replace the float32 ``network`` with its int8 quantization, calibrated on ``tiles``,
    unless its labels agree with float32's below :data:`MIN_INT8_DICE` for a class (refused
    with the figure); return the agreement."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Tiles(CalibrationDataReader):
        def __init__(self):
            self.remaining = iter(tiles)

        def get_next(self):
            tile = next(self.remaining, None)
            return None if tile is None else {"image": tile}

    quantized = network.with_name(f"{network.stem}_int8{network.suffix}")
    quantize_static(str(network), str(quantized), Tiles(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    dice = label_agreement(network, quantized, tiles, classes, threads)
    worst = min(dice, key=dice.get)
    if dice[worst] < MIN_INT8_DICE:
        quantized.unlink()
        raise CovplanError(f"the int8 network of {what} agrees with float32's labels at Dice {dice[worst]:.4f} for "
                           f"'{worst}' on {len(tiles)} calibration tiles (at least {MIN_INT8_DICE} needed); export "
                           f"without --int8")
    quantized.replace(network)
    return {"precision": "int8", "int8_dice": {name: round(value, 4) for name, value in dice.items()},
            "calibration_tiles": len(tiles)}


def foreground_classes(model: TrainedModel) -> dict[int, str]:
    """The network's output channel of each foreground class, and the class's name."""
    names = {int(value): name for name, value in model.dataset_json["labels"].items()
             if isinstance(value, int) and value != 0 and name != "ignore"}
    return {index: names.get(index, str(index)) for index in range(1, model.label_manager.num_segmentation_heads)}
