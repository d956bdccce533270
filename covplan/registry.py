"""What the loaded plugins registered, by name, with the distribution behind each.

Generic: it knows :class:`~covplan.plugin_base.NamedPlugin`-like objects, not the kinds.
Each kind of plugin declares its :class:`PluginKind` beside its contract and offers its
typed lookup there (``get_architecture`` in :mod:`covplan.architectures.base`,
``get_loss`` in :mod:`covplan.losses.base`, ...), as simonw/llm keeps each lookup beside
its kind: a central registry that imports every contract pulls the stages into a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from covplan.errors import CovplanError
from covplan.plugins import PluginSource, load_plugins, mark_broken, plugin_source, pm

PluginT = TypeVar("PluginT")


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


@dataclass(frozen=True)
class PluginKind(Generic[PluginT]):
    """One kind of plugin: the hook that registers it, the class every registered object
    must be an instance of, and the word used for it in messages."""

    hook_name: str
    base_class: type
    kind: str

    def registered(self) -> dict[str, Registered[PluginT]]:
        """Every registered plugin of this kind by name, with its distribution."""
        return _collect(self.hook_name, self.base_class, self.kind)

    def get(self, name: str) -> PluginT:
        """The plugin registered as ``name``; the error lists the known ones."""
        known = self.registered()
        if name not in known:
            choices = ", ".join(sorted(known)) or "none installed"
            raise UnknownPluginError(f"unknown {self.kind} '{name}'; known: {choices} (see `covplan plugins`)")
        return known[name].plugin


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
