"""Training: one trainer for every architecture and loss plugin, the fold runner, fold-wise
evaluation and the cross-validation summary."""

from covplan.training.fold_runner import train_fold, train_folds
from covplan.training.fold_validation import cross_validation_summary, format_cross_validation_table
from covplan.training.inputs import TrainingInputs, load_training_inputs
from covplan.training.settings import TrainingSettings
from covplan.training.trainer import Trainer

__all__ = ["Trainer", "TrainingInputs", "TrainingSettings", "cross_validation_summary",
           "format_cross_validation_table", "load_training_inputs", "train_fold", "train_folds"]
