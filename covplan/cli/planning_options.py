"""The options of the commands that plan: plan and plan-and-train share the dataset, the
WORK folder, the architectures, the GPU memory and the preset; plan and preprocess share
the configurations and the worker processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from covplan.cli.options import architecture_option, configuration_option, num_processes_option
from covplan.planning.plan import DEFAULT_GPU_MEMORY_GB


def configuration_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The -c/--configuration and -j/--num-processes options plan and preprocess share."""
    command = num_processes_option("Worker processes for fingerprinting and preprocessing.")(command)
    return configuration_option("Only these configurations (repeat the option; default: all the data allows).",
                                multiple=True)(command)


def planning_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """DATASET_DIR, -o/--output, -a/--arch, --gpu-memory and --preset: what plan and
    plan-and-train share."""
    for option in reversed([
        click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)),
        click.option("-o", "--output", "work_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="WORK folder for fingerprint, plans, splits (and preprocessed data)."),
        architecture_option("Architecture plugin to plan for (repeat for several; see `covplan plugins`).",
                            multiple=True, default=("plain_unet",), show_default=True),
        click.option("--gpu-memory", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_GPU_MEMORY_GB,
                     show_default=True, help="GPU memory target in GB that sizes patch and batch (nnU-Net's "
                                             "default: 8)."),
        click.option("--preset", help="Published configuration to use instead of the planned one, e.g. method-a."),
    ]):
        command = option(command)
    return command
