"""Loss functions: the plugin contract and the built-in ``dice_ce``."""

from covplan.losses.base import LossPlugin, get_loss, losses

__all__ = ["LossPlugin", "get_loss", "losses"]
