"""Networks exported to ONNX (``covplan export --onnx``) run by ONNX Runtime behind the
interface nnU-Net's sliding-window predictor calls: ``network(tile) -> logits``. The
sliding window, mirroring, ensembling and post-processing stay nnU-Net's and covplan's;
only the network's arithmetic moves to ONNX Runtime, and no torch network (nor the
architecture's plugin) is needed.

A model folder predicted this way holds ``onnx.json`` (:data:`ONNX_DESCRIPTION_FILE`) and
each fold's ``fold_F/network.onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from covplan.errors import CovplanError

ONNX_DESCRIPTION_FILE = "onnx.json"
ONNX_NETWORK_FILE = "network.onnx"
ONNX_EXTRA = "pip install 'covplan[onnx]'"


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise CovplanError(f"the onnxruntime backend needs ONNX Runtime, which is not installed; {ONNX_EXTRA}") \
            from error
    return onnxruntime


def inference_session(path: Path, threads: int):
    """An ONNX Runtime CPU session for ``path`` with ``threads`` intra-op threads."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Warnings about unused initialisers and the like are not the user's business.
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own exception types for damaged files
        raise CovplanError(f"{path}: ONNX Runtime cannot load it ({str(error).splitlines()[0]}); export the model "
                           f"again with `covplan export --onnx`") from error


class OnnxNetwork(torch.nn.Module):
    """An ONNX Runtime session that nnU-Net's predictor calls as it calls a torch network:
    one float32 tile ``(1, channels, *patch)`` in, its logits out (as a CPU tensor)."""

    def __init__(self, path: Path, threads: int):
        super().__init__()
        self.path = path
        self.session = inference_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, tile: torch.Tensor) -> torch.Tensor:
        array = tile.detach().to("cpu", torch.float32).numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: np.ascontiguousarray(array)})[0])


def onnx_files(folder: Path, description: dict[str, Any], folds: list) -> dict:
    """The ``network.onnx`` of each chosen fold, refused with the fix when one is missing."""
    files = {}
    for fold in folds:
        entry = description["folds"].get(str(fold))
        if entry is None:
            raise CovplanError(f"{folder}: fold {fold} has no ONNX network (exported: "
                               f"{', '.join(description['folds'])}); choose those folds or export it with "
                               f"`covplan export --onnx`")
        files[fold] = folder / entry["file"]
    return files
