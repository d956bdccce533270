"""Evaluation: segmentation metrics of predictions against references (``covplan evaluate``)."""

from covplan.evaluation.evaluate import DEFAULT_PROCESSES, case_metrics, evaluate_folder, metrics_from_counts

__all__ = ["DEFAULT_PROCESSES", "case_metrics", "evaluate_folder", "metrics_from_counts"]
