"""The loss contract's labels: losses receive nnU-Net's label manager, learn nothing from
ignore-label voxels, train regions where they support them, and are refused (in one line)
where they do not; losses written to the old contract still build."""

from __future__ import annotations

import pytest
import torch
from nnunetv2.utilities.label_handling.label_handling import LabelManager

from covplan.losses.base import get_loss
from covplan.errors import CovplanError
from covplan.losses.base import build_plugin_loss, check_loss_supports_labels
from tests.fake_plugins import FakeLoss

PLAIN = LabelManager({"background": 0, "lung": 1, "lesion": 2}, None)
WITH_IGNORE = LabelManager({"background": 0, "lung": 1, "lesion": 2, "ignore": 3}, None)
REGIONS = LabelManager({"background": 0, "lung": [1, 2], "lesion": 2}, [1, 2])
REGIONS_WITH_IGNORE = LabelManager({"background": 0, "lung": [1, 2], "lesion": 2, "ignore": 3}, [1, 2])


def _labels_with_unlabelled_half() -> torch.Tensor:
    torch.manual_seed(0)
    labels = torch.randint(0, 3, (2, 1, 8, 8))
    labels[..., 4:] = 3  # the right half is not annotated
    return labels


@pytest.mark.parametrize("name", ["dice_ce", "tversky_ce"])
def test_predictions_on_unlabelled_voxels_do_not_change_the_loss(name):
    labels = _labels_with_unlabelled_half()
    loss = build_plugin_loss(get_loss(name), {}, WITH_IGNORE)
    logits = torch.randn(2, 3, 8, 8)
    changed_unlabelled, changed_labelled = logits.clone(), logits.clone()
    changed_unlabelled[..., 4:] = torch.randn(2, 3, 8, 4) * 10
    changed_labelled[..., :4] = torch.randn(2, 3, 8, 4) * 10
    assert loss(changed_unlabelled, labels).item() == pytest.approx(loss(logits, labels).item(), rel=1e-6)
    assert loss(changed_labelled, labels).item() != pytest.approx(loss(logits, labels).item(), rel=1e-3)


@pytest.mark.parametrize("name", ["dice_ce", "tversky_ce"])
def test_with_ignore_the_loss_is_that_of_the_labelled_voxels_alone(name):
    labels = _labels_with_unlabelled_half()
    logits = torch.randn(2, 3, 8, 8)
    sparse = build_plugin_loss(get_loss(name), {"batch_dice": True}, WITH_IGNORE)(logits, labels)
    dense = build_plugin_loss(get_loss(name), {"batch_dice": True}, PLAIN)(
        logits[..., :4].contiguous(), labels[..., :4].contiguous())
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-4)


def _region_targets(label_map: torch.Tensor, labels: LabelManager, ignore: torch.Tensor | None = None) -> torch.Tensor:
    """nnU-Net's region targets: one binary map per region, then the unlabelled map."""
    maps = [torch.isin(label_map, torch.tensor(region if isinstance(region, tuple) else (region,)))
            for region in labels.foreground_regions]
    if ignore is not None:
        maps.append(ignore)
    return torch.cat(maps, dim=1).float()


@pytest.mark.parametrize("labels", [REGIONS, REGIONS_WITH_IGNORE])
def test_dice_ce_trains_regions_on_sigmoid_outputs(labels):
    label_map = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    label_map[..., 2:6, 2:6] = 1
    label_map[..., 3:5, 3:5] = 2
    ignore = torch.zeros_like(label_map, dtype=torch.bool)
    ignore[..., 0, :] = True
    target = _region_targets(label_map, labels, ignore if labels.has_ignore_label else None)
    regions = target[:, :2]
    perfect = (regions * 2 - 1) * 20  # logits whose sigmoid is the region maps
    loss = build_plugin_loss(get_loss("dice_ce"), {}, labels)
    assert loss(perfect, target).item() == pytest.approx(-1.0, abs=1e-3)  # BCE ~0, soft Dice ~1
    assert loss(-perfect, target).item() > 0.5


def test_hybrid_loss_takes_region_maps_as_its_targets():
    label_map = torch.zeros(1, 1, 16, 16, dtype=torch.long)
    label_map[..., 4:12, 4:12] = 1
    label_map[..., 6:10, 6:10] = 2
    target = _region_targets(label_map, REGIONS)
    perfect = (target * 2 - 1) * 20
    loss = build_plugin_loss(get_loss("hybrid_bce_ssim_iou"), {"patch_size": [16, 16]}, REGIONS)
    assert loss(perfect, target).item() == pytest.approx(0.0, abs=1e-3)
    assert loss(-perfect, target).item() > 1.0


@pytest.mark.parametrize("name, labels, reason", [
    ("tversky_ce", REGIONS, "its categorical cross-entropy needs one label per voxel, and regions overlap"),
    ("hybrid_bce_ssim_iou", WITH_IGNORE, "its SSIM term compares 11 x 11 windows, which unlabelled pixels would "
                                         "corrupt"),
])
def test_a_built_in_loss_that_cannot_train_these_labels_is_refused_with_its_reason(name, labels, reason):
    with pytest.raises(CovplanError) as refused:
        check_loss_supports_labels(get_loss(name), labels, "raw/dataset.json")
    assert str(refused.value) == (f"raw/dataset.json: loss '{name}' cannot train on this dataset's labels: {reason}; "
                                  "train with --loss dice_ce (it supports regions and the ignore label)")


@pytest.mark.parametrize("name", ["dice_ce", "tversky_ce", "hybrid_bce_ssim_iou"])
def test_every_built_in_loss_trains_plain_labels(name):
    check_loss_supports_labels(get_loss(name), PLAIN, "raw/dataset.json")


def test_a_loss_written_to_the_old_contract_builds_and_is_refused_only_for_ignore_or_regions():
    old = FakeLoss()  # build_loss(plan, num_classes, output_weights=None): no label_manager
    check_loss_supports_labels(old, PLAIN, "dataset.json")
    loss = build_plugin_loss(old, {}, PLAIN)
    assert loss(torch.ones(1, 3, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 1.0
    with pytest.raises(CovplanError, match="loss 'fake_loss' cannot train on this dataset's labels: it does not "
                                           r"support regions \(labels whose values are lists\) or an ignore label"):
        check_loss_supports_labels(old, REGIONS_WITH_IGNORE, "dataset.json")


def test_a_loss_taking_label_manager_gets_it():
    received = {}

    class LabelAwareLoss(FakeLoss):
        supports_ignore_label = True

        def build_loss(self, plan, num_classes, output_weights=None, label_manager=None):
            received.update(num_classes=num_classes, label_manager=label_manager)
            return super().build_loss(plan, num_classes, output_weights)

    build_plugin_loss(LabelAwareLoss(), {}, WITH_IGNORE)
    assert received == {"num_classes": 3, "label_manager": WITH_IGNORE}
