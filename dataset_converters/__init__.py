"""covplan's built-in dataset converters, registered through the ``register_converters``
hook exactly as a hospital's own converter package would be."""

from covplan.hookspecs import hookimpl


@hookimpl
def register_converters(register):
    """No converter is built in yet: see docs/plugins.md to add one."""
