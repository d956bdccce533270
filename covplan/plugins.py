"""The plugin manager: built-in plugins and those installed under the entry-point group
``covplan``, loaded once, each in isolation so that one broken distribution never takes
the others down."""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

from covplan import hookspecs
from covplan.version import __version__

ENTRY_POINT_GROUP = "covplan"

# Set to a comma-separated list of entry-point names to load only those external
# plugins (empty string: none). Built-ins always load.
LOAD_PLUGINS_ENV = "COVPLAN_LOAD_PLUGINS"

BUILTIN_PLUGIN_MODULES = (
    "covplan.architectures.plain_unet",
    "covplan.losses.dice_ce",
    "covplan.losses.tversky_ce",
    "dataset_converters",
    "covplan.planning.presets",
    "covplan.tracking.tensorboard_tracker",
    "covplan.tracking.mlflow_tracker",
)

logger = logging.getLogger(__name__)

pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
pm.add_hookspecs(hookspecs)


@dataclass(frozen=True)
class PluginSource:
    """Where a registered plugin module came from."""

    plugin_name: str
    distribution: str
    version: str


@dataclass(frozen=True)
class BrokenPlugin:
    """An installed plugin that could not be loaded, and why."""

    plugin_name: str
    distribution: str
    version: str
    error: str


_sources: dict[str, PluginSource] = {}
_broken: list[BrokenPlugin] = []
_loaded = False


def load_plugins() -> None:
    """Register the built-in plugins and every installed entry point once; later calls
    do nothing. A plugin that fails to import is logged and listed by
    :func:`broken_plugins` instead of raising."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in BUILTIN_PLUGIN_MODULES:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        _sources[module_name] = PluginSource(module_name, "covplan", __version__)

    allowed = os.environ.get(LOAD_PLUGINS_ENV)
    allowed_names = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if allowed_names is not None and entry_point.name not in allowed_names:
            continue
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        version = entry_point.dist.version if entry_point.dist else "unknown"
        if pm.has_plugin(entry_point.name):
            continue  # the same distribution found twice on sys.path
        try:
            module = entry_point.load()
            pm.register(module, name=entry_point.name)
        except Exception as error:  # a third party's import error must not stop covplan
            mark_broken(entry_point.name, distribution, version, error)
            continue
        _sources[entry_point.name] = PluginSource(entry_point.name, distribution, version)
    pm.check_pending()


def mark_broken(plugin_name: str, distribution: str, version: str, error: BaseException) -> None:
    """Record a plugin as broken and warn once, naming its distribution."""
    message = f"{type(error).__name__}: {error}"
    logger.warning("covplan plugin %r from %s %s failed to load and is skipped (%s)",
                   plugin_name, distribution, version, message)
    _broken.append(BrokenPlugin(plugin_name, distribution, version, message))
    if pm.has_plugin(plugin_name):
        pm.unregister(name=plugin_name)


def plugin_source(plugin_name: str) -> PluginSource:
    """The distribution that provides a registered plugin module. A module registered
    in-process with ``pm.register`` (tests, notebooks) has no distribution: it is named
    by its registration name."""
    return _sources.get(plugin_name, PluginSource(plugin_name, f"<in-process {plugin_name}>", ""))


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed to import or to register, in the order they failed."""
    load_plugins()
    return list(_broken)
