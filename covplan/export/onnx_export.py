"""Each fold's network as ONNX (torch's exporter), checked against torch on a random patch
before it is kept.

The check: one random patch of the plans' patch size, through the torch network and
through ONNX Runtime; the largest absolute difference of their logits is printed, stored
in ``onnx.json`` and must stay within :data:`MAX_LOGIT_DIFFERENCE` times the largest
absolute logit (at least 1), else the export is refused. Float32 arithmetic in another
order differs by about 1e-5 of the logits' range; a wrong graph differs by whole units.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from covplan.architectures.base import architectures
from covplan.architectures.inference import FullResolutionOutput
from covplan.errors import CovplanError
from covplan.export.int8 import foreground_classes, quantize_fold
from covplan.inference.model_loading import TrainedModel
from covplan.inference.onnx_backend import ONNX_EXTRA, ONNX_NETWORK_FILE, import_onnxruntime, inference_session
from covplan.work_folder import fold_folder

logger = logging.getLogger(__name__)

MAX_LOGIT_DIFFERENCE = 1e-3
ONNX_FORMAT_VERSION = 1
CHECK_SEED = 0


def _plugin_label(model: TrainedModel) -> str:
    registered = architectures()[model.inputs.architecture]
    return f"'{model.inputs.architecture}' ({registered.source.distribution} {registered.source.version})"


def refuse_unexportable(model: TrainedModel) -> None:
    """Stop before any work when the ONNX packages are missing or the architecture's
    plugin says its network cannot be exported (:attr:`ArchitecturePlugin.onnx_unsupported`)."""
    import_onnxruntime()
    for package in ("onnx", "onnxscript"):  # torch's exporter writes with these
        if importlib.util.find_spec(package) is None:
            raise CovplanError(f"--onnx needs the package {package}, which is not installed; {ONNX_EXTRA}")
    reason = architectures()[model.inputs.architecture].plugin.onnx_unsupported
    if reason:
        raise CovplanError(f"{model.folder}: the architecture {_plugin_label(model)} cannot be exported to ONNX "
                           f"({reason}); export without --onnx")


def export_checked(network: torch.nn.Module, example: torch.Tensor, target: Path, what: str,
                   threads: int = 1) -> tuple[float, float]:
    """Export ``network`` (evaluation mode, one output) for inputs shaped like ``example``
    to ``target`` and compare ONNX Runtime's logits with torch's on ``example``; return
    the largest absolute difference and its bound. ``what`` names the network in errors."""
    try:
        # The exporter reports its progress on stdout and warns about internals; the
        # user learns the outcome from the check below.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(network, (example,), str(target), input_names=["image"], output_names=["logits"],
                              external_data=False, dynamo=True)
    except Exception as error:  # the exporter raises many types; any of them means "not exportable"
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CovplanError(f"the network of {what} cannot be exported to ONNX ({type(error).__name__}: "
                           f"{first_line}); export without --onnx, or ask its authors to set `onnx_unsupported` "
                           f"with the reason") from error
    with torch.no_grad():
        expected = network(example).numpy()
    session = inference_session(target, threads)
    found = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    difference = float(np.abs(found - expected).max()) if found.shape == expected.shape else float("inf")
    bound = MAX_LOGIT_DIFFERENCE * max(1.0, float(np.abs(expected).max()))
    if not difference <= bound:  # NaN is refused too
        raise CovplanError(f"the ONNX network of {what} gives logits that differ from torch's by up to "
                           f"{difference:.3g} (bound {bound:.3g}); it does not export faithfully, export without "
                           f"--onnx")
    return difference, bound


def export_fold(model: TrainedModel, fold, target_folder: Path, threads: int = 1,
                calibration: list[np.ndarray] | None = None) -> dict[str, Any]:
    """Write fold ``fold``'s network to ``target_folder/fold_F/network.onnx``, check it and
    return its entry of ``onnx.json`` (the file, relative to ``target_folder``, and the
    largest absolute logit difference); with ``calibration`` tiles the network is then
    quantized to int8 (:mod:`covplan.export.int8`), and the entry says how its labels agree."""
    network = FullResolutionOutput(model.build_network()).eval()
    network.network.load_state_dict(model.fold_weights[fold])
    generator = torch.Generator().manual_seed(CHECK_SEED)
    example = torch.randn(1, model.num_input_channels, *model.configuration_manager.patch_size, generator=generator)
    relative = fold_folder(Path(), fold) / ONNX_NETWORK_FILE
    (target_folder / relative).parent.mkdir(parents=True, exist_ok=True)
    difference, bound = export_checked(network, example, target_folder / relative,
                                       f"{model.folder.name} fold {fold} ({_plugin_label(model)})", threads)
    logger.info("%s fold %s: ONNX Runtime vs torch, largest absolute logit difference %.3g (bound %.3g)",
                model.folder.name, fold, difference, bound)
    entry = {"file": relative.as_posix(), "max_abs_logit_difference": difference, "bound": bound}
    if calibration is not None:
        entry |= quantize_fold(target_folder / relative, calibration, foreground_classes(model),
                               f"{model.folder.name} fold {fold}", threads)
        logger.info("%s fold %s: int8 vs float32 labels, Dice %s", model.folder.name, fold, entry["int8_dice"])
    return entry


def onnx_description(model: TrainedModel, folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``onnx.json``: what ONNX Runtime prediction needs besides the plans, so that it
    needs no plugin."""
    registered = architectures()[model.inputs.architecture]
    return {"format_version": ONNX_FORMAT_VERSION, "architecture": model.inputs.architecture,
            "configuration": model.configuration, "output_activation": registered.plugin.output_activation,
            "mirror_axes": list(model.mirror_axes) if model.mirror_axes is not None else None,
            "input_shape": [1, model.num_input_channels, *model.configuration_manager.patch_size],
            "torch_version": torch.__version__, "folds": folds}
