"""Starting a fold from a trained model's weights (``--init-from``), and the record of what
was loaded.

nnunetv2's ``load_pretrained_weights`` loads every tensor but the segmentation layers
(keys with ``.seg_layers.``) and asserts that all the others match. covplan departs from it
in two ways, both because its networks come from plugins: the output heads are found by
building the network for one more class and seeing which tensors change shape (no plugin
has to name them), and they are loaded too when source and target predict the same labels
(fine-tuning on more data of the same task keeps what the heads learnt). Every other tensor
is loaded where name and shape match, and the rest is listed, never silently dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from covplan.architectures.base import ArchitecturePlugin
from covplan.architectures.memory import on_meta_device
from covplan.atomic import write_json_atomic
from covplan.errors import CovplanError
from covplan.file_hashes import file_sha256
from covplan.json_files import read_json_if_present
from covplan.planning.init_source import (
    INIT_FROM_FORMAT_VERSION,
    SourceModel,
    check_plans_from_source,
    check_source_applies,
    check_source_dims,
)
from covplan.training.checkpoints import load_checkpoint
from covplan.training.inputs import TrainingInputs
from covplan.work_folder import COVPLAN_DATASET_JSON, INIT_FROM_JSON, plans_path

logger = logging.getLogger(__name__)

def check_source_fits(source: SourceModel, inputs: TrainingInputs) -> None:
    """Refuse a source that cannot apply to the WORK folder of ``inputs`` (architecture,
    dimensionality, intensity domain), or whose plans the WORK folder was not planned with."""
    covplan_dataset = read_json_if_present(inputs.work / COVPLAN_DATASET_JSON, "plan the dataset again") or {}
    check_source_applies(source, [inputs.architecture], inputs.dataset_json, covplan_dataset.get("intensity_domain"),
                         inputs.work, [inputs.configuration])
    check_source_dims(source, inputs.fingerprint, inputs.work)
    check_plans_from_source(source, inputs.plans, inputs.configuration, plans_path(inputs.work, inputs.architecture))


def head_tensor_names(plugin: ArchitecturePlugin, plan: dict[str, Any], num_input_channels: int,
                      num_classes: int) -> set[str]:
    """The tensors whose shape depends on the number of classes: the output heads (every
    deep-supervision output's), found on the meta device without allocating weights."""
    with on_meta_device():
        shapes = [{name: tuple(tensor.shape) for name, tensor in
                   plugin.build_network(plan, num_input_channels, classes, deep_supervision=True)
                   .state_dict().items()} for classes in (num_classes, num_classes + 1)]
    return {name for name, shape in shapes[0].items() if shapes[1].get(name) != shape}


def same_labels(source: SourceModel, dataset_json: dict[str, Any]) -> bool:
    """Source and target predict the same labels, in the same order and regions."""
    return (source.dataset_json["labels"] == dataset_json["labels"]
            and source.dataset_json.get("regions_class_order") == dataset_json.get("regions_class_order"))


def load_initial_weights(network: nn.Module, source: SourceModel, plugin: ArchitecturePlugin,
                         inputs: TrainingInputs) -> dict[str, Any]:
    """Load into ``network`` (built for ``inputs``) the source checkpoint's tensors whose
    name and shape match, but the output heads when the labels differ; return the record
    of what was loaded and skipped. A source of which not one tensor fits is refused."""
    weights = load_checkpoint(source.checkpoint)["network_weights"]
    keep_heads = same_labels(source, inputs.dataset_json)
    heads = head_tensor_names(plugin, inputs.plan, inputs.num_input_channels,
                              inputs.label_manager.num_segmentation_heads)
    target = network.state_dict()
    loaded, skipped = {}, {}
    for name, tensor in target.items():
        if name in heads and not keep_heads:
            skipped[name] = "output head re-initialised: the labels differ"
        elif name not in weights:
            skipped[name] = "not in the source"
        elif tuple(weights[name].shape) != tuple(tensor.shape):
            skipped[name] = f"shape {list(weights[name].shape)} in the source, {list(tensor.shape)} here"
        else:
            loaded[name] = weights[name]
    if not [name for name in loaded if name not in heads]:
        raise CovplanError(f"--init-from {source.origin}: architecture differs: not one tensor of {source.checkpoint} "
                           f"fits the network of '{inputs.architecture}' {inputs.configuration} here (e.g. "
                           f"{next(iter(skipped.items()))[1]}); start from a model of this architecture, or install "
                           f"the plugin version the source was trained with")
    network.load_state_dict({**target, **{name: value.to(target[name].device) for name, value in loaded.items()}})
    logger.info("initialised from %s: %d of %d tensors loaded, %d left at their initialisation", source.origin,
                len(loaded), len(target), len(skipped))
    return {"format_version": INIT_FROM_FORMAT_VERSION, "source": source.record(),
            "checkpoint_sha256": file_sha256(source.checkpoint),
            "labels": {"source": source.dataset_json["labels"], "target": inputs.dataset_json["labels"]},
            "heads": "loaded: same labels" if keep_heads else "re-initialised: the labels differ",
            "tensors_loaded": len(loaded), "tensors_skipped": len(skipped),
            "unused_source_tensors": sorted(set(weights) - set(target)),
            "loaded": sorted(loaded), "skipped": dict(sorted(skipped.items()))}


def write_init_record(fold_folder: Path, record: dict[str, Any] | None) -> None:
    """The fold's record of what it started from (:data:`covplan.work_folder.INIT_FROM_JSON`);
    None removes an earlier run's: the fold now starts from random weights."""
    path = Path(fold_folder) / INIT_FROM_JSON
    if record is None:
        path.unlink(missing_ok=True)
    else:
        write_json_atomic(path, record)

