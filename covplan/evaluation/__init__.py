"""Evaluation: segmentation metrics of predictions against references (``covplan evaluate``)."""

from covplan.evaluation.evaluate import DEFAULT_PROCESSES, MetricOptions, case_metrics, class_metrics, evaluate_folder
from covplan.labels.masks import metrics_from_counts

__all__ = ["DEFAULT_PROCESSES", "MetricOptions", "case_metrics", "class_metrics", "evaluate_folder",
           "metrics_from_counts"]
