"""The contract between covplan and a dataset converter."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import click

from covplan.plugin_base import NamedPlugin
from covplan.registry import PluginKind, Registered


class ConverterPlugin(NamedPlugin, ABC):
    """Turns one source dataset layout into covplan's common format (nnU-Net v2's raw
    dataset layout plus ``covplan_dataset.json``).

    ``covplan convert NAME SRC_DIR OUT_DIR`` calls :meth:`convert`; the options a
    converter needs on the command line come from :meth:`click_params` and reach
    :meth:`convert` as keyword arguments, together with the options every converter
    gets: ``workers`` (``-j``) and ``skip_bad`` (``--skip-bad``).
    :func:`covplan.conversion.dataset.convert_cases` does the shared work (staging folder,
    workers, progress bar, summary, ``dataset.json`` and ``covplan_dataset.json``).
    """

    @abstractmethod
    def convert(self, source_dir: Path, output_dir: Path, **options: Any) -> Any:
        """Convert ``source_dir`` into ``output_dir``; never modify the source. Return a
        :class:`covplan.conversion.dataset.ConversionSummary` for the CLI to print."""

    def click_params(self) -> list[click.Parameter]:
        """Extra command-line options of ``covplan convert NAME``."""
        return []


CONVERTERS: PluginKind[ConverterPlugin] = PluginKind("register_converters", ConverterPlugin, "converter")


def converters() -> dict[str, Registered[ConverterPlugin]]:
    """Every registered dataset converter by name."""
    return CONVERTERS.registered()


def get_converter(name: str) -> ConverterPlugin:
    """The converter registered as ``name``; the error lists the known ones."""
    return CONVERTERS.get(name)
