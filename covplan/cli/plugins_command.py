"""``covplan plugins``: what is installed."""

from __future__ import annotations

import json
from typing import Any

import click

from covplan.architectures.base import architectures
from covplan.architectures.network_sizes import COUNTED_CLASSES, COUNTED_INPUT_CHANNELS, network_sizes
from covplan.conversion.base import converters
from covplan.losses.base import losses
from covplan.planning.presets import PRESETS
from covplan.plugins import broken_plugins
from covplan.tracking.base import trackers


def plugin_listing(with_network_sizes: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every registered architecture, loss, converter, tracker and planning preset, and every broken plugin, as
    JSON-ready dictionaries; with ``with_network_sizes`` each architecture also gets
    ``network_sizes`` (see :func:`covplan.architectures.network_sizes.network_sizes`)."""
    rows: list[dict[str, Any]] = []
    for kind, collection in (("architecture", architectures()), ("loss", losses()),
                             ("converter", converters()), ("tracker", trackers()),
                             ("preset", PRESETS.registered())):
        for name, registered in sorted(collection.items()):
            row: dict[str, Any] = {"name": name, "kind": kind}
            if kind == "architecture":
                row["dims"] = list(registered.plugin.dims)
                row["default_loss"] = registered.plugin.default_loss
                row["onnx"] = registered.plugin.onnx_unsupported or "yes"
                row["slice_classifier"] = registered.plugin.slice_classifier() is not None
                if with_network_sizes:
                    row["network_sizes"] = network_sizes(registered.plugin)
            row.update(description=registered.plugin.description,
                       distribution=registered.source.distribution, version=registered.source.version)
            rows.append(row)
    broken = [{"plugin": b.plugin_name, "distribution": b.distribution, "version": b.version, "error": b.error}
              for b in broken_plugins()]
    return {"plugins": rows, "broken": broken}


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@click.option("--verbose", "verbose", is_flag=True,
              help=f"Also build each architecture for a small reference 2D and 3D plan "
                   f"({COUNTED_INPUT_CHANNELS} input channel, {COUNTED_CLASSES} classes) and print its parameter count.")
def plugins_command(as_json: bool, verbose: bool) -> None:
    """List installed architectures, losses, dataset converters, trackers and planning presets.

    Built-ins and plugins installed under the entry-point group `covplan` are listed
    with the distribution that provides them; plugins that failed to load are listed
    as broken with their error.

    \b
    Example:
        covplan plugins
        covplan plugins --json
        covplan plugins --verbose
    """
    listing = plugin_listing(with_network_sizes=verbose)
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for row in listing["plugins"]:
        dims = f" {'/'.join(f'{d}D' for d in row['dims'])}" if "dims" in row else ""
        onnx = "" if "onnx" not in row else " ONNX" if row["onnx"] == "yes" else f" no ONNX: {row['onnx']}"
        classifier = " slice classifier" if row.get("slice_classifier") else ""
        click.echo(f"{row['kind']:<13}{row['name']:<22}{row['distribution']} {row['version']}{dims}{onnx}{classifier}")
        if row["description"]:
            click.echo(f"{'':<13}{row['description']}")
        for size in row.get("network_sizes", []):
            count = f"{size['parameters']:,} parameters" if "parameters" in size else f"not built: {size['error']}"
            click.echo(f"{'':<13}{size['dims']}D: {count} ({size['plan']})")
    for broken in listing["broken"]:
        click.echo(f"{'broken':<13}{broken['plugin']:<22}{broken['distribution']} {broken['version']}: "
                   f"{broken['error']}")
