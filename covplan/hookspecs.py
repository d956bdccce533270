"""Hook specifications: the points where a plugin adds to covplan.

Every hook takes a ``register`` callback rather than returning values, so one plugin
module can register any number of things and covplan knows which plugin registered
each of them (see :mod:`covplan.registry`).
"""

from pluggy import HookimplMarker, HookspecMarker

PROJECT_NAME = "covplan"

hookspec = HookspecMarker(PROJECT_NAME)
hookimpl = HookimplMarker(PROJECT_NAME)


@hookspec
def register_architectures(register):
    """Register network architectures: call ``register(plugin)`` with a
    :class:`covplan.ArchitecturePlugin` instance for each one."""


@hookspec
def register_losses(register):
    """Register loss functions: call ``register(plugin)`` with a
    :class:`covplan.LossPlugin` instance for each one."""


@hookspec
def register_converters(register):
    """Register dataset converters: call ``register(plugin)`` with a
    :class:`covplan.ConverterPlugin` instance for each one."""


@hookspec
def register_presets(register):
    """Register planning presets (published configurations): call ``register(preset)``
    with a :class:`covplan.planning.presets.Preset` for each one."""


@hookspec
def register_trackers(register):
    """Register experiment trackers: call ``register(tracker)`` with a
    :class:`covplan.TrackerPlugin` instance for each one (selected with ``--tracker NAME``)."""
