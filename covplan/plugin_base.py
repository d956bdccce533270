"""What every kind of plugin object has in common."""


class NamedPlugin:
    """A plugin object registered under ``name``; its help text is the class docstring."""

    name: str = ""

    @property
    def description(self) -> str:
        """First line of the class docstring."""
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""
