"""covplan's format for 2D slice data (documented in docs/formats.md): the names and
values the slice converter reads and the demo data writes."""

from __future__ import annotations

PATIENTS_CSV = "patients.csv"
PATIENTS_CSV_COLUMNS = ("patient_id", "diagnosis", "severity")
SLICES_FOLDER = "slices"
MASKS_FOLDER = "masks"
DIAGNOSES = ("covid", "healthy", "bacterial pneumonia", "viral pneumonia")
SEVERITIES = ("", "mild", "moderate", "severe")

# Label scheme of lesion types: label value -> name (nnU-Net's dataset.json label names).
LESION_LABELS = {0: "background", 1: "ggo", 2: "consolidation", 3: "fibrosis"}

# Binary masks, one per type: <slice>_<suffix>.png with 0 and 255 (or 0 and 1).
MASK_SUFFIXES = {"ggo": 1, "consolidation": 2, "fibrosis": 3}

# Palette masks: the PASCAL VOC colour map, as COVID-SemiSeg uses it.
LESION_COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0)}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")

# COVID-SemiSeg (Inf-Net): Imgs/N.jpg and GT/N.png palette masks (GGO, consolidation).
SEMISEG_IMAGES = "Imgs"
SEMISEG_MASKS = "GT"
SEMISEG_LABELS = {0: "background", 1: "ggo", 2: "consolidation"}

# Slices whose pixel spacings differ more than this factor are resampled by a plan to sizes
# so different that training and validation seem to hang on the finest ones: convert and
# plan warn about it.
MIXED_SPACING_RATIO = 2.0
