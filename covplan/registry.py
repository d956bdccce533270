"""What the loaded plugins registered, by name, with the distribution behind each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

from covplan.architectures.base import ArchitecturePlugin
from covplan.conversion.base import ConverterPlugin
from covplan.errors import CovplanError
from covplan.losses.base import LossPlugin
from covplan.plugins import PluginSource, load_plugins, mark_broken, plugin_source, pm
from covplan.tracking.base import TrackerPlugin

if TYPE_CHECKING:
    from covplan.planning.presets import Preset

PluginT = TypeVar("PluginT", ArchitecturePlugin, LossPlugin, ConverterPlugin, TrackerPlugin, "Preset")


class PluginError(CovplanError):
    """A plugin registered something covplan cannot use."""


class PluginConflictError(PluginError):
    """Two plugins registered the same name."""


class UnknownPluginError(PluginError, KeyError):
    """A name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class Registered(Generic[PluginT]):
    """One registered plugin object and the distribution that provides it."""

    plugin: PluginT
    source: PluginSource

    @property
    def provider(self) -> str:
        return f"{self.source.distribution} {self.source.version}".strip()


def _collect(hook_name: str, base_class: type, kind: str) -> dict[str, Registered]:
    load_plugins()
    found: dict[str, Registered] = {}
    # Each implementation is called on its own (instead of through pm.hook) so that every
    # registration is attributed to its distribution, and one plugin failing inside its
    # hook is isolated like one that fails to import.
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        source = plugin_source(impl.plugin_name)
        registered_here: list[object] = []
        try:
            kwargs = {"register": registered_here.append} if "register" in impl.argnames else {}
            impl.function(**kwargs)
        except Exception as error:
            mark_broken(impl.plugin_name, source.distribution, source.version, error)
            continue
        for plugin in registered_here:
            _check_plugin(plugin, base_class, kind, source)
            if plugin.name in found:
                first = found[plugin.name]
                raise PluginConflictError(
                    f"{kind} '{plugin.name}' is registered twice: by {first.provider} and by "
                    f"{Registered(plugin, source).provider}; uninstall one of them or set "
                    f"COVPLAN_LOAD_PLUGINS to the plugins you want"
                )
            found[plugin.name] = Registered(plugin, source)
    return found


def _check_plugin(plugin: object, base_class: type, kind: str, source: PluginSource) -> None:
    if not isinstance(plugin, base_class):
        raise PluginError(
            f"{source.distribution} registered {plugin!r} as {kind}, but it is not a "
            f"covplan.{base_class.__name__} instance; register an instance of a subclass"
        )
    if not isinstance(getattr(plugin, "name", None), str) or not plugin.name:
        raise PluginError(f"{source.distribution} registered a {kind} without a name; set the class attribute `name`")


def architectures() -> dict[str, Registered[ArchitecturePlugin]]:
    """Every registered architecture plugin by name."""
    return _collect("register_architectures", ArchitecturePlugin, "architecture")


def losses() -> dict[str, Registered[LossPlugin]]:
    """Every registered loss plugin by name."""
    return _collect("register_losses", LossPlugin, "loss")


def converters() -> dict[str, Registered[ConverterPlugin]]:
    """Every registered dataset converter by name."""
    return _collect("register_converters", ConverterPlugin, "converter")


def trackers() -> dict[str, Registered[TrackerPlugin]]:
    """Every registered experiment tracker by name."""
    return _collect("register_trackers", TrackerPlugin, "tracker")


def presets() -> dict[str, Registered[Preset]]:
    """Every registered planning preset by name."""
    # Imported here: the planning package imports this module.
    from covplan.planning.presets import Preset

    return _collect("register_presets", Preset, "preset")


def _lookup(collection: Callable[[], dict[str, Registered]], kind: str, name: str):
    known = collection()
    if name not in known:
        choices = ", ".join(sorted(known)) or "none installed"
        raise UnknownPluginError(f"unknown {kind} '{name}'; known: {choices} (see `covplan plugins`)")
    return known[name].plugin


def get_architecture(name: str) -> ArchitecturePlugin:
    """The architecture plugin registered as ``name``; the error lists the known ones."""
    return _lookup(architectures, "architecture", name)


def get_loss(name: str) -> LossPlugin:
    """The loss plugin registered as ``name``; the error lists the known ones."""
    return _lookup(losses, "loss", name)


def get_converter(name: str) -> ConverterPlugin:
    """The converter registered as ``name``; the error lists the known ones."""
    return _lookup(converters, "converter", name)


def get_preset(name: str) -> Preset:
    """The planning preset registered as ``name``; the error lists the known ones."""
    return _lookup(presets, "preset", name)


def get_tracker(name: str) -> TrackerPlugin:
    """The experiment tracker registered as ``name``; the error lists the known ones."""
    return _lookup(trackers, "tracker", name)
