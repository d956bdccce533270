"""covplan: nnU-Net-style auto-configuration for chest-CT lung and lesion segmentation,
with architectures, losses, dataset converters and experiment trackers as plugins."""

from covplan.architectures.base import ArchitecturePlugin
from covplan.conversion.base import ConverterPlugin
from covplan.hookspecs import hookimpl
from covplan.losses.base import LossPlugin
from covplan.tracking.base import TrackerPlugin
from covplan.version import __version__

__all__ = ["ArchitecturePlugin", "ConverterPlugin", "LossPlugin", "TrackerPlugin", "hookimpl", "__version__"]
