"""``covplan plugins``: what is installed."""

from __future__ import annotations

import json
from typing import Any

import click

from covplan import registry
from covplan.plugins import broken_plugins


def plugin_listing() -> dict[str, list[dict[str, Any]]]:
    """Every registered architecture, loss and converter, and every broken plugin, as
    JSON-ready dictionaries."""
    rows: list[dict[str, Any]] = []
    for kind, collection in (("architecture", registry.architectures()), ("loss", registry.losses()),
                             ("converter", registry.converters())):
        for name, registered in sorted(collection.items()):
            row: dict[str, Any] = {"name": name, "kind": kind}
            if kind == "architecture":
                row["dims"] = list(registered.plugin.dims)
                row["default_loss"] = registered.plugin.default_loss
            row.update(description=registered.plugin.description,
                       distribution=registered.source.distribution, version=registered.source.version)
            rows.append(row)
    broken = [{"plugin": b.plugin_name, "distribution": b.distribution, "version": b.version, "error": b.error}
              for b in broken_plugins()]
    return {"plugins": rows, "broken": broken}


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def plugins_command(as_json: bool) -> None:
    """List installed architectures, losses and dataset converters.

    Built-ins and plugins installed under the entry-point group `covplan` are listed
    with the distribution that provides them; plugins that failed to load are listed
    as broken with their error.

    \b
    Example:
        covplan plugins
        covplan plugins --json
    """
    listing = plugin_listing()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for row in listing["plugins"]:
        dims = f" {'/'.join(f'{d}D' for d in row['dims'])}" if "dims" in row else ""
        click.echo(f"{row['kind']:<13}{row['name']:<22}{row['distribution']} {row['version']}{dims}")
        if row["description"]:
            click.echo(f"{'':<13}{row['description']}")
    for broken in listing["broken"]:
        click.echo(f"{'broken':<13}{broken['plugin']:<22}{broken['distribution']} {broken['version']}: "
                   f"{broken['error']}")
