"""Which backend runs the networks when ``--backend`` is not given: ONNX Runtime for models
that carry ONNX networks (archives exported with ``--onnx``) predicted on the CPU, torch
otherwise.

On these machines' CPUs ONNX Runtime ran a 448 x 384 forward pass of the same network in
0.84 s against torch's 3.3 s (issue 30; docs/benchmarks.md); on a GPU torch runs on the GPU
and ONNX Runtime's CPU build would be slower. A model whose folds have slice classifiers
stays on torch: the classifiers are torch networks, and ONNX Runtime would segment every
slice instead of skipping the lesion-free ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from covplan.inference.archive_reader import is_archive, read_manifest
from covplan.inference.onnx_backend import ONNX_DESCRIPTION_FILE
from covplan.training.distributed import resolve_device
from covplan.training.slice_classifier import SLICE_CLASSIFIER_FILE


def _carries_onnx(path: Path) -> bool:
    """Whether every model of the archive or model folder ``path`` has ONNX networks and none a slice classifier."""
    if is_archive(path):
        manifest = read_manifest(path)
        return (all("onnx" in entry for entry in manifest["models"])
                and not any(Path(name).name == SLICE_CLASSIFIER_FILE for name in manifest.get("files", {})))
    return (path / ONNX_DESCRIPTION_FILE).is_file() and not any(path.glob(f"fold_*/{SLICE_CLASSIFIER_FILE}"))


def choose_backend(requested: str | None, model_paths: list[Path], device: str) -> str:
    """``requested``, else ``onnxruntime`` when every model carries ONNX networks, the
    device resolves to the CPU and ONNX Runtime is installed, else ``torch``."""
    if requested is not None:
        return requested
    if (importlib.util.find_spec("onnxruntime") is not None and resolve_device(device).type == "cpu"
            and all(_carries_onnx(Path(path)) for path in model_paths)):
        return "onnxruntime"
    return "torch"
