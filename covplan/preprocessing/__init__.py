"""Preprocessing: the planned configurations' training data, written by nnunetv2's own
preprocessor in the layout its data loaders read."""

from covplan.preprocessing.preprocess import preprocess

__all__ = ["preprocess"]
