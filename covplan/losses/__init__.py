"""Loss functions: the plugin contract and the built-in ``dice_ce``."""
