"""The hybrid BCE + SSIM + IoU loss is 2D only, and says so: a 3D search leaves it out
(issue 29, item 3)."""

from covplan.losses.base import get_loss
from covplan.search.study import searchable_losses


def test_the_hybrid_loss_declares_2d_only_and_a_3d_search_leaves_it_out(sphere_work):
    assert get_loss("hybrid_bce_ssim_iou").dims == (2,)
    searched = searchable_losses(sphere_work, "plain_unet", ("3d_fullres",))
    assert "hybrid_bce_ssim_iou" not in searched and "dice_ce" in searched
