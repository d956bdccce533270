"""Pseudo-labels: unlabelled images predicted by an ensemble, each voxel kept where the
ensemble is sure enough and marked with nnU-Net's ignore label where it is not, written
with the labelled cases as a new raw dataset (``covplan pseudo-label``). The threshold of
"sure enough" is chosen on the models' own cross-validation predictions."""

from covplan.pseudo_labelling.pseudo_label import PseudoLabelResult, PseudoLabelSettings, pseudo_label

__all__ = ["PseudoLabelResult", "PseudoLabelSettings", "pseudo_label"]
