"""Agreement of the lung mask `covplan report` derives from the image
(covplan.labels.lung_mask) with lung labels that exist:

- the lung label of converted COVID-19-CT-Seg-like demo data (`covplan demo-data --kind
  ct3d`, converted by covid-ct-seg both to grey8, the published windowing, and to HU);
- the real LIDC-IDRI CT's thresholded lung (metrics_cost.crude_lung: air below -400 HU,
  3D components not touching the in-plane border), the only lung reference it has;
- on the 50 real COVID-SemiSeg slices, which have lesion masks but no lung, the lesion
  share of the derived lung (no reference: a plausibility figure).

Prints Dice per source as mean, standard deviation, minimum and case count.
Usage: python benchmarks/lung_mask_agreement.py [--cases 10] [--size 96]
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from metrics_cost import DEFAULT_CT, crude_lung
from PIL import Image

from covplan.demo_data.layouts import write_demo_data
from covplan.labels.lung_mask import derive_lung_mask
from dataset_converters.covid_ct_seg import CovidCtSegConverter

SEMISEG = DEFAULT_CT.parents[1] / "covid_semiseg_train"


def dice(first: np.ndarray, second: np.ndarray) -> float:
    return 2 * np.count_nonzero(first & second) / (np.count_nonzero(first) + np.count_nonzero(second))


def describe(name: str, values: list[float]) -> None:
    print(f"{name}: mean {np.mean(values):.3f}, sd {np.std(values):.3f}, min {np.min(values):.3f}, n {len(values)}")


def demo_agreement(cases: int, size: int) -> None:
    root = Path(tempfile.mkdtemp())
    write_demo_data(root / "raw", "ct3d", num_cases=cases, size=size)
    for intensity in ("grey8", "hu"):
        converted = root / intensity
        CovidCtSegConverter().convert(root / "raw", converted, intensity=intensity, drop_grey=True)
        scores = []
        for label_file in sorted((converted / "labelsTr").glob("*.nii.gz")):
            image_file = converted / "imagesTr" / label_file.name.replace(".nii.gz", "_0000.nii.gz")
            lung = sitk.GetArrayFromImage(sitk.ReadImage(str(label_file))) > 0
            scores.append(dice(derive_lung_mask(sitk.GetArrayFromImage(sitk.ReadImage(str(image_file)))), lung))
        describe(f"demo COVID-19-CT-Seg-like, {intensity}, lung label", scores)


def lidc_agreement() -> None:
    if not DEFAULT_CT.is_file():
        print(f"LIDC: {DEFAULT_CT} not found, skipped")
        return
    image = sitk.ReadImage(str(DEFAULT_CT))
    hu = sitk.GetArrayFromImage(image)
    derived = derive_lung_mask(hu)
    describe("LIDC-IDRI-0001, thresholded lung", [dice(derived, crude_lung(hu))])
    print(f"LIDC-IDRI-0001 derived lung volume: {np.count_nonzero(derived) * np.prod(image.GetSpacing()) / 1e6:.2f} l")


def semiseg_shares() -> None:
    if not SEMISEG.is_dir():
        print(f"COVID-SemiSeg: {SEMISEG} not found, skipped")
        return
    shares = []
    for path in sorted((SEMISEG / "Imgs").glob("*.jpg")):
        grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        lesions = np.asarray(Image.open(SEMISEG / "GT" / f"{path.stem}.png").convert("RGB")).any(axis=-1)
        lung = derive_lung_mask(grey[np.newaxis])[0] | lesions  # as the report counts it
        shares.append(100 * np.count_nonzero(lesions) / np.count_nonzero(lung))
    quartiles = np.percentile(shares, [25, 50, 75])
    print(f"COVID-SemiSeg lesion share of the derived lung (%): quartiles {quartiles.round(1).tolist()}, "
          f"n {len(shares)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10, help="demo cases to write")
    parser.add_argument("--size", type=int, default=96, help="demo image size in pixels a side")
    arguments = parser.parse_args()
    demo_agreement(arguments.cases, arguments.size)
    lidc_agreement()
    semiseg_shares()


if __name__ == "__main__":
    main()
