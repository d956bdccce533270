"""``plan-and-train --unlabelled``: train on the labelled dataset, pseudo-label the
unlabelled images with those models, train again on both, and so on for ``rounds``
rounds, all within the run's time budget.

Each round's models pseudo-label afresh from the labelled dataset (the pseudo-labels of
one round are never the input of the next: a round's better models replace them), and
their threshold comes from their own cross-validation, whose validation folds hold only
labelled cases. The training minutes are shared evenly: with a budget, each of the
``rounds + 1`` trainings gets ``1 / (rounds + 1)`` of it (per fold or in total, as the
budget scope says); pseudo-labelling's predictions, like planning and validation, are
not training time and are not counted."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from covplan.errors import CovplanError
from covplan.pseudo_labelling import PseudoLabelSettings, pseudo_label
from covplan.training import TrainingSettings, load_training_inputs
from covplan.work_folder import Fold, pseudo_label_round

logger = logging.getLogger(__name__)

# (dataset, WORK folder, settings) -> the cross-validation summaries of the models trained.
TrainRound = Callable[[Path, Path, TrainingSettings], dict[str, dict[str, Any]]]


def check_rounds(rounds: int, folds: Sequence[Fold] | None, dry_run: bool = False) -> None:
    """Refuse, before any work, rounds that could not pseudo-label."""
    if dry_run:
        raise CovplanError("--unlabelled cannot be a --dry-run: each round's jobs depend on the models of the one "
                           "before; leave out --unlabelled to see the first round's jobs")
    if rounds < 1:
        raise CovplanError(f"--rounds {rounds}: pseudo-label and train again at least once")
    if folds is not None and not any(isinstance(fold, int) for fold in folds):
        raise CovplanError("--unlabelled needs cross-validation folds (the threshold is chosen on their "
                           "predictions); train numbered folds with --folds, not only fold all")


def train_with_pseudo_labels(dataset_dir: Path, work_dir: Path, unlabelled_dir: Path, rounds: int,
                             architectures: Sequence[str], configuration: str | None, settings: TrainingSettings,
                             train_round: TrainRound, resume: bool = False,
                             pseudo_settings: PseudoLabelSettings | None = None) -> dict[str, dict[str, Any]]:
    """Round 0 trains ``dataset_dir`` in ``work_dir``; round R pseudo-labels
    ``unlabelled_dir`` with round R-1's models (one per architecture) into
    ``WORK/pseudo_label_rounds/round_R/dataset`` and trains that in ``.../work``. Returns
    every round's summaries, later rounds keyed by their path in ``work_dir``."""
    pseudo_settings = pseudo_settings or PseudoLabelSettings(device=settings.device)
    if settings.time_budget_s is not None:
        settings = replace(settings, time_budget_s=settings.time_budget_s / (rounds + 1))
    work = Path(work_dir)
    summaries = dict(train_round(Path(dataset_dir), work, settings))
    previous_work = work
    for round_number in range(1, rounds + 1):
        dataset, round_work = pseudo_label_round(work, round_number)
        models = [load_training_inputs(previous_work, architecture, configuration).model_folder
                  for architecture in architectures]
        if resume and dataset.is_dir():
            logger.info("round %d: keeping the pseudo-labelled dataset %s", round_number, dataset)
        else:
            result = pseudo_label(models, unlabelled_dir, dataset_dir, dataset, pseudo_settings)
            logger.info("round %d: %d case(s) pseudo-labelled at entropy %.4g", round_number,
                        len(result.pseudo_labelled), result.choice.threshold)
        prefix = round_work.relative_to(work).as_posix()
        summaries.update({f"{prefix}/{name}": summary
                          for name, summary in train_round(dataset, round_work, settings).items()})
        previous_work = round_work
    return summaries
