"""covplan: nnU-Net-style auto-configuration for chest-CT lung and lesion segmentation,
with architectures, losses, dataset converters and experiment trackers as plugins."""

from importlib.metadata import PackageNotFoundError, version

from covplan.architectures.base import ArchitecturePlugin
from covplan.conversion.base import ConverterPlugin
from covplan.hookspecs import hookimpl
from covplan.losses.base import LossPlugin
from covplan.tracking.base import TrackerPlugin

try:
    __version__ = version("covplan")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["ArchitecturePlugin", "ConverterPlugin", "LossPlugin", "TrackerPlugin", "hookimpl", "__version__"]
