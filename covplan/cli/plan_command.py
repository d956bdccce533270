"""``covplan plan``: fingerprint, per-architecture plans and folds for a raw dataset."""

from __future__ import annotations

from pathlib import Path

import click

from covplan.cli.options import BUDGET_MINUTES, architectures_given, device_option, init_from_option, num_folds_option
from covplan.cli.planning_options import configuration_options, planning_options
from covplan.json_files import read_json
from covplan.planning.budget_candidates import budget_summary
from covplan.planning.splits import DEFAULT_SPLIT_SEED
from covplan.work_folder import splits_path
from covplan.workflows.plan import plan_and_preprocess


def echo_plans(plans_file: Path, explain: bool) -> None:
    """One line per configuration of a plans file; with ``explain`` the reasons too."""
    plans = read_json(plans_file, "plan again")
    click.echo(f"{plans['covplan']['architecture']}: {plans_file}")
    for name, configuration in plans["configurations"].items():
        if "patch_size" in configuration:
            spacing = " x ".join(f"{s:.3g}" for s in configuration["spacing"])
            patch = " x ".join(map(str, configuration["patch_size"]))
            click.echo(f"  {name:<20}patch {patch}, batch {configuration['batch_size']}, spacing {spacing} mm, "
                       f"data {configuration['data_identifier']}")
        else:
            click.echo(f"  {name:<20}inherits {configuration['inherits_from']}")
        if explain:
            for line in plans["covplan"]["explanation"][name]:
                click.echo(f"    - {line}")


@click.command(name="plan")
@planning_options
@configuration_options
@num_folds_option()
@click.option("--seed", type=int, default=DEFAULT_SPLIT_SEED, show_default=True, help="Seed of the fold split.")
@click.option("--explain", is_flag=True, help="Print why each value of each configuration was chosen.")
@click.option("--preprocess", "then_preprocess", is_flag=True, help="Preprocess the planned configurations too.")
@click.option("--time-budget", type=BUDGET_MINUTES, default=None,
              help="Minutes of training per fold: measure a few training steps of the planned configuration and "
                   "of a coarser one and keep what reaches the higher Dice in that time (implies --preprocess).")
@device_option("With --time-budget: where the steps are measured (where training will run).")
@init_from_option("Plan with this trained model's plans, moved to the dataset (nnU-Net's move_plans_between_datasets): "
                  "a model folder or a `covplan export` archive of one model; -a defaults to its architecture. "
                  "Then train with `covplan train --init-from` the same model.")
def plan_command(dataset_dir: Path, work_dir: Path, architectures: tuple[str, ...], configurations: tuple[str, ...],
                 num_processes: int, gpu_memory: float, preset: str | None, num_folds: int | None, seed: int,
                 explain: bool,
                 then_preprocess: bool, time_budget: float | None, device: str, init_from: Path | None) -> None:
    """Plan a raw dataset: fingerprint, nnU-Net v2 plans per architecture, folds.

    DATASET_DIR is a dataset in nnU-Net's raw layout (imagesTr/, labelsTr/, dataset.json),
    for example written by `covplan convert`; its covplan_dataset.json, when present,
    names the patient of each case. WORK receives dataset_fingerprint.json,
    plans_<arch>.json (nnU-Net v2's schema), splits_final.json and, with --preprocess,
    the preprocessed data.

    \b
    Example:
        covplan plan raw/Dataset501_Covid -o work --arch plain_unet --explain
        covplan plan raw/Dataset501_Covid -o work --preset method-a --preprocess -j 4
        covplan plan raw/Dataset501_Covid -o work --time-budget 25 --explain
        covplan plan raw/Dataset502_Hospital -o work --init-from model.zip --preprocess --explain
    """
    result = plan_and_preprocess(dataset_dir, work_dir, architectures_given(init_from, architectures),
                                 then_preprocess, None if time_budget is None else 60 * time_budget, device,
                                 num_processes, init_from, configurations=configurations or None,
                                 gpu_memory_gb=gpu_memory, preset=preset, num_folds=num_folds, seed=seed)
    for architecture, plans_file in result.plans_files.items():
        echo_plans(plans_file, explain)
        if time_budget is not None and not explain:  # --explain prints it with the reasons
            click.echo(f"  {budget_summary(work_dir, architecture)}")
    splits_file = splits_path(work_dir)
    click.echo(f"folds: {splits_file} ({len(read_json(splits_file, 'plan again'))} folds)")
    for identifier, folder in result.preprocessed.items():
        click.echo(f"preprocessed {identifier}: {folder}")
