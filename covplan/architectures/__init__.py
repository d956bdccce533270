"""Network architectures: the plugin contract and the built-in ``plain_unet``."""
