"""Training: one trainer for every architecture and loss plugin, fold-wise evaluation and
the cross-validation summary."""

from covplan.training.evaluation import cross_validation_summary, format_cross_validation_table
from covplan.training.trainer import Trainer, TrainingSettings, train_fold
from covplan.training.inputs import TrainingInputs, load_training_inputs

__all__ = ["Trainer", "TrainingInputs", "TrainingSettings", "cross_validation_summary",
           "format_cross_validation_table", "load_training_inputs", "train_fold"]
