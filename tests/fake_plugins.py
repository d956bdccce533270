"""Small fake plugins the tests register in-process."""

from __future__ import annotations

from torch import nn

import covplan
import covplan.tracking


class FakeNet(covplan.ArchitecturePlugin):
    """A 1x1 convolution standing in for a real network."""

    name = "fake_net"
    dims = (2,)

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        conv = nn.Conv2d if len(plan["patch_size"]) == 2 else nn.Conv3d
        return conv(num_input_channels, num_classes, 1)


class FakeLoss(covplan.LossPlugin):
    """Mean of the logits."""

    name = "fake_loss"

    def build_loss(self, plan, num_classes, output_weights=None):
        return lambda outputs, targets: outputs.mean()


class FakeConverter(covplan.ConverterPlugin):
    """Converts nothing."""

    name = "fake_converter"

    def convert(self, source_dir, output_dir, **options):
        return None


class RecordingRun(covplan.tracking.TrackedRun):
    """Appends every call, named by its run, to its tracker's ``calls``; raises where its
    tracker was told to fail."""

    def __init__(self, tracker: RecordingTracker, name: str):
        self.tracker, self.name = tracker, name

    def _record(self, method: str, *arguments) -> None:
        self.tracker.calls.append((method, self.name, *arguments))
        if method in self.tracker.fails_in:
            raise ConnectionError(f"{self.tracker.name} cannot reach its server")

    def log_params(self, params):
        self._record("log_params", dict(params))

    def log_metrics(self, metrics, step=None):
        self._record("log_metrics", dict(metrics), step)

    def log_artifact(self, path, folder=""):
        self._record("log_artifact", path.name, folder)

    def end(self, status):
        self._record("end", status)


class RecordingTracker(covplan.TrackerPlugin):
    """Records what it is told, in order, in ``calls``."""

    def __init__(self, name: str = "recording", fails_in: tuple[str, ...] = (), requires: tuple[str, ...] = ()):
        self.name, self.fails_in, self.requires = name, fails_in, requires
        self.install_hint = f"pip install {name}"
        self.calls: list[tuple] = []

    def start_run(self, run, parent, tracking_uri):
        self.calls.append(("start_run", run.name, parent.name if parent else None, tracking_uri))
        if "start_run" in self.fails_in:
            raise ConnectionError(f"{self.name} cannot reach its server")
        return RecordingRun(self, run.name)


class Registers:
    """A plugin object whose hooks register the given plugin objects."""

    def __init__(self, *registered):
        self.registered = registered

    @covplan.hookimpl
    def register_architectures(self, register):
        for plugin in self.registered:
            if isinstance(plugin, covplan.ArchitecturePlugin):
                register(plugin)

    @covplan.hookimpl
    def register_losses(self, register):
        for plugin in self.registered:
            if isinstance(plugin, covplan.LossPlugin):
                register(plugin)

    @covplan.hookimpl
    def register_converters(self, register):
        for plugin in self.registered:
            if isinstance(plugin, covplan.ConverterPlugin):
                register(plugin)

    @covplan.hookimpl
    def register_trackers(self, register):
        for plugin in self.registered:
            if isinstance(plugin, covplan.TrackerPlugin):
                register(plugin)


class FailsInHook:
    """A plugin that imports but raises when asked to register."""

    @covplan.hookimpl
    def register_architectures(self, register):
        raise RuntimeError("weights file missing")


class WidePlainNet(covplan.ArchitecturePlugin):
    """nnU-Net's PlainConvUNet with ``width`` times the planned features: a network whose
    memory need is known relative to plain_unet's."""

    dims = (2, 3)

    def __init__(self, name: str, width: int):
        self.name = name
        self.width = width

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        from covplan.architectures.plain_unet import CLASS_KWARGS, PLAIN_CONV_UNET

        arch_kwargs = {key: value for key, value in plan["architecture"]["arch_kwargs"].items()
                       if not key.startswith("covplan_")}
        arch_kwargs["features_per_stage"] = [self.width * f for f in arch_kwargs["features_per_stage"]]
        return get_network_from_plans(PLAIN_CONV_UNET, arch_kwargs, CLASS_KWARGS, num_input_channels, num_classes,
                                      allow_init=True, deep_supervision=deep_supervision)


class BuildFailsNet(covplan.ArchitecturePlugin):
    """A network whose construction fails, as a plugin missing its weights file would."""

    name = "build_fails_net"
    dims = (2, 3)

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        raise RuntimeError("weights file missing")


class ExtraChannelsNet(FakeNet):
    """A 1x1 convolution with four output channels more than the classes asked for."""

    name = "extra_channels_net"
    dims = (2, 3)

    def build_network(self, plan, num_input_channels, num_classes, deep_supervision=False):
        return super().build_network(plan, num_input_channels, num_classes + 4, deep_supervision)
