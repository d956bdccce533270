"""Method C's speed-up: a model whose folds each have a slice classifier
(``covplan train-classifier``) first asks it whether a 2D slice holds any lesion; a slice
called negative gets an all-background label map without running the segmentation network.
Only slice inputs are classified; volumes are always segmented."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from covplan.atomic import write_json_atomic
from covplan.inference.model_loading import TrainedModel
from covplan.json_files import read_json_if_present
from covplan.training.slice_classifier import SLICE_CLASSIFIER_FILE, load_slice_classifier
from covplan.work_folder import fold_folder

SLICE_CLASSIFICATION_FILE = "slice_classification.json"
NEGATIVE_BELOW = 0.5  # the paper's decision: lesion when the probability is at least 0.5


@dataclass
class SliceGate:
    """The fold-averaged slice classifiers of one 2D model and the decisions taken so far."""

    classifiers: list[torch.nn.Module]
    patch_size: tuple[int, int]
    device: torch.device
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @torch.no_grad()
    def admits(self, case_id: str, preprocessed: torch.Tensor) -> bool:
        """Classify one preprocessed slice ``(channels, 1, y, x)``, record the decision and
        say whether the slice should be segmented."""
        from acvl_utils.cropping_and_padding.padding import pad_nd_image

        # At least the patch size the classifier was trained on, padded as nnU-Net pads patches.
        image = pad_nd_image(preprocessed[:, 0], self.patch_size)[None].to(self.device)
        probability = float(torch.stack([classifier.lesion_probability(image)[0]
                                         for classifier in self.classifiers]).mean())
        negative = probability < NEGATIVE_BELOW
        self.decisions[case_id] = {"lesion_probability": round(probability, 6), "skipped": negative}
        return not negative

    @property
    def skipped(self) -> list[str]:
        return [case for case, decision in self.decisions.items() if decision["skipped"]]


def load_slice_gate(model: TrainedModel, device: torch.device) -> SliceGate | None:
    """The gate of a 2D model whose every chosen fold has ``slice_classifier.pth``; None
    otherwise (nothing is skipped then)."""
    paths = [fold_folder(model.folder, fold) / SLICE_CLASSIFIER_FILE for fold in model.fold_weights]
    if model.dims != 2 or not all(path.is_file() for path in paths):
        return None
    inputs = model.inputs
    classifiers = [load_slice_classifier(path, inputs.architecture, inputs.plan, model.num_input_channels,
                                         model.label_manager.num_segmentation_heads, weights, device)
                   for path, weights in zip(paths, model.fold_weights.values())]
    return SliceGate(classifiers, tuple(model.configuration_manager.patch_size), device)


def write_slice_classification(output_dir: Path, gate: SliceGate) -> None:
    """Add this run's decisions to ``slice_classification.json`` (slices kept from an
    earlier run keep their entries)."""
    path = output_dir / SLICE_CLASSIFICATION_FILE
    cases = (read_json_if_present(path, "predict again with --overwrite") or {}).get("cases", {})
    cases.update(gate.decisions)
    content = {"negative_below": NEGATIVE_BELOW, "members": len(gate.classifiers), "cases": dict(sorted(cases.items()))}
    write_json_atomic(path, content)
