"""Time the per-class metrics of `covplan evaluate` on the real 512 x 512 x 133 LIDC CT.

There is no lung mask for it, so a crude one is made by thresholding (air below -400 HU
that does not touch the in-plane image border, where the air around the body is); the
"prediction" is that mask shifted by two voxels, and lesion-like blobs are scattered in it.
Prints seconds per class with all metrics, without the boundary metrics, and for the voxel
counts alone.
Usage: python benchmarks/metrics_cost.py [../shared/data/lidc_idri_0001/LIDC-IDRI-0001.nii.gz]
"""

import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from covplan.evaluation import MetricOptions, class_metrics
from covplan.labels.masks import connected_components

DEFAULT_CT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lidc_idri_0001" / "LIDC-IDRI-0001.nii.gz"


def crude_lung(ct: np.ndarray) -> np.ndarray:
    components, _ = connected_components(ct < -400)
    border = np.unique(np.concatenate([components[:, [0, -1]].ravel(), components[:, :, [0, -1]].ravel()]))
    return (components > 0) & ~np.isin(components, border)


def main(ct_file: Path) -> None:
    image = sitk.ReadImage(str(ct_file))
    spacing = tuple(reversed(image.GetSpacing()))
    lung = crude_lung(sitk.GetArrayFromImage(image))
    prediction = np.roll(lung, 2, axis=2)
    specks = lung & (np.random.default_rng(0).random(lung.shape) > 0.9999)
    lesions = ndimage.binary_dilation(specks, iterations=2) & lung
    lung_ml = lung.sum() * np.prod(spacing) / 1e3
    print(f"{ct_file.name}: shape {lung.shape}, spacing {spacing} mm, lung {lung_ml:.0f} ml")
    option_sets = (("all metrics", MetricOptions()), ("--no-boundary", MetricOptions(boundary=False)),
                   ("counts only", MetricOptions(boundary=False, lesions=False)))
    for name, reference, predicted in (("lung", lung, prediction), ("lesions", lesions, np.roll(lesions, 1, axis=1))):
        for options_name, options in option_sets:
            start = time.perf_counter()
            metrics = class_metrics(reference, predicted, spacing, options=options)
            print(f"{name:<8} {options_name:<14} {time.perf_counter() - start:6.2f} s  Dice {metrics['Dice']:.4f}"
                  + (f"  HD95 {metrics['HD95']:.2f} mm  NSD {metrics['NSD']:.4f}" if "HD95" in metrics else ""))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CT)
