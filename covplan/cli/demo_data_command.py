"""``covplan demo-data``: synthetic chest CT phantoms in the raw source layouts."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.demo_data.layouts import DEFAULT_CASES, KINDS, write_demo_data


@click.command(name="demo-data")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default="ct3d", show_default=True,
              help="Source layout: ct3d = COVID-19-CT-Seg (HU and grey cases), msd = MSD Task06_Lung, "
                   "slices = covplan's slice format (docs/formats.md), semiseg = COVID-SemiSeg.")
@click.option("--cases", type=click.IntRange(min=1), default=None,
              help="Number of cases (patients for --kind slices) [default: "
                   + ", ".join(f"{count} for {kind}" for kind, count in DEFAULT_CASES.items()) + "].")
@click.option("--size", type=click.IntRange(min=16), default=48, show_default=True,
              help="Pixels a side of each axial slice (3D volumes have size/2 slices).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; the same seed writes the same data.")
def demo_data_command(output_dir: Path, kind: str, cases: int | None, size: int, seed: int) -> None:
    """Write synthetic chest CT phantoms in a raw source layout.

    Each phantom has a body, fat, spine, heart, both lungs with airways and vessels, and
    lesions (ground-glass opacity, consolidation, fibrosis) with realistic HU. The data
    lands in OUTPUT_DIR in the layout of the public dataset, ready for `covplan convert`.
    OUTPUT_DIR must not exist or be empty.

    \b
    Example:
        covplan demo-data demo_work/raw_ct3d --kind ct3d --cases 4
        covplan convert covid-ct-seg demo_work/raw_ct3d demo_work/converted_ct3d
    """
    write_demo_data(output_dir, kind, cases, size, seed)
    click.echo(f"wrote {kind} demo data to {output_dir}")
