"""Write a tiny dataset to try `covplan evaluate` and `covplan report` on:
OUT/gt and OUT/pred (NIfTI label maps: 1 lung, 2 infection), OUT/images (CT in HU) and
OUT/dataset.json. Usage: python docs/examples/tiny_masks.py OUT"""

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SPACING_XYZ = (1.0, 1.0, 2.0)  # a 10 x 10 x 10 voxel block is 2 ml


def write(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_XYZ)
    sitk.WriteImage(image, str(path))


def main(out: Path) -> None:
    for case, lesion_slices in (("case_001", 5), ("case_002", 0)):
        reference = np.zeros((12, 12, 12), np.uint8)
        reference[1:11, 1:11, 1:11] = 1
        reference[2:2 + lesion_slices, 3:7, 3:7] = 2
        prediction = reference.copy()
        prediction[2:2 + lesion_slices, 3:7, 3] = 1  # the model misses one column of the lesion
        write(reference, out / "gt" / f"{case}.nii.gz")
        write(prediction, out / "pred" / f"{case}.nii.gz")
        write(np.where(reference == 0, 40, np.where(reference == 1, -850, -300)).astype(np.int16),
              out / "images" / f"{case}_0000.nii.gz")
    labels = {"background": 0, "lung": 1, "infection": 2}
    (out / "dataset.json").write_text(json.dumps({"labels": labels, "file_ending": ".nii.gz"}, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
