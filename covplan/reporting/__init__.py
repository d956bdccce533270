"""Reporting: per-patient lung and lesion measures, severity grade and diagnosis from
predicted label maps (``covplan report``)."""

from covplan.reporting.report import build_report

__all__ = ["build_report"]
