"""Inference: trained model folders predicting new images (fold and multi-architecture
ensembles, test-time mirroring, uncertainty) and the ensembling of saved probabilities."""

from covplan.inference.ensemble import ensemble_folders
from covplan.inference.predict import PredictionResult, PredictionSettings, predict

__all__ = ["PredictionResult", "PredictionSettings", "ensemble_folders", "predict"]
