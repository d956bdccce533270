"""Network architectures: the plugin contract and the built-in ``plain_unet``."""

from covplan.architectures.base import ArchitecturePlugin, architectures, get_architecture

__all__ = ["ArchitecturePlugin", "architectures", "get_architecture"]
