"""covplan predict against nnUNetv2_predict (its Python API, with the command's default
3 preprocessing and 3 export processes) on the real LIDC-IDRI-0001 CT, on CPU, with the same
plans and the same weights: wall time and peak memory (the summed resident memory of the
process and all its children, sampled every 50 ms), with and without mirroring.

The model is a small, untrained plain_unet (4 stages, 4 to 32 features, patch 64 x 128 x 128
at 2.5 x 2 x 2 mm, seeded weights): timing and memory do not depend on training, and the
label maps of both tools are compared voxel by voxel.

Run: ``.venv/bin/python benchmarks/bench_predict.py [--lidc PATH] [--no-tta-only]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import LIDC_CT
SAMPLE_SECONDS = 0.05

CONFIGURATION = {
    "data_identifier": "bench_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
    "patch_size": [64, 128, 128], "median_image_size_in_voxels": [133, 180, 180], "spacing": [2.5, 2.0, 2.0],
    "normalization_schemes": ["CTNormalization"], "use_mask_for_norm": [False],
    "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
    "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
    "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
    "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
    "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
    "architecture": {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {"n_stages": 4, "features_per_stage": [4, 8, 16, 32], "conv_op": "torch.nn.modules.conv.Conv3d",
                        "kernel_sizes": [[3, 3, 3]] * 4, "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
                        "n_conv_per_stage": [1, 1, 1, 1], "n_conv_per_stage_decoder": [1, 1, 1], "conv_bias": True,
                        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                        "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                        "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True}},
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
    "batch_dice": False,
}
PLANS = {
    "dataset_name": "Dataset900_Bench", "plans_name": "plans", "original_median_spacing_after_transp": [2.5, 0.7, 0.7],
    "original_median_shape_after_transp": [133, 512, 512], "image_reader_writer": "SimpleITKIO",
    "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "configurations": {"3d_fullres": CONFIGURATION},
    "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
    "foreground_intensity_properties_per_channel": {"0": {
        "max": 3071.0, "mean": -300.0, "median": -200.0, "min": -1024.0, "percentile_00_5": -1000.0,
        "percentile_99_5": 1500.0, "std": 400.0}},
    "covplan": {"architecture": "plain_unet"},
}
DATASET_JSON = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "lung": 1, "infection": 2},
                "numTraining": 1, "file_ending": ".nii.gz"}


def write_model(folder: Path) -> None:
    """A model folder both tools read: plans.json, dataset.json, covplan_dataset.json (HU,
    so that covplan feeds the network what nnU-Net feeds it) and fold_0's checkpoint."""
    import torch

    from covplan import __version__
    from covplan.registry import get_architecture
    from covplan.training.checkpoints import CHECKPOINT_FORMAT_VERSION

    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps(PLANS, indent=2))
    (folder / "dataset.json").write_text(json.dumps(DATASET_JSON, indent=2))
    (folder / "covplan_dataset.json").write_text(json.dumps({"format_version": 1, "intensity_domain": "hu"}))
    torch.manual_seed(0)
    network = get_architecture("plain_unet").build_network(CONFIGURATION, 1, 3)
    torch.save({"covplan": CHECKPOINT_FORMAT_VERSION, "network_weights": network.state_dict(),
                "architecture": {"name": "plain_unet", "distribution": "covplan", "version": __version__},
                "init_args": {"plans": PLANS, "configuration": "3d_fullres", "fold": 0, "dataset_json": DATASET_JSON},
                "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": (0, 1, 2)},
               folder / "fold_0" / "checkpoint_final.pth")


COVPLAN = """
import sys
from pathlib import Path
from covplan.inference import PredictionSettings, predict
predict(Path(sys.argv[1]), Path(sys.argv[2]), [Path(sys.argv[3])],
        PredictionSettings(folds=[0], use_mirroring=sys.argv[4] == "tta", device="cpu", overwrite=True))
"""

NNUNET = """
import sys
if __name__ == "__main__":
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=sys.argv[4] == "tta",
                                perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                                allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(sys.argv[3], use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    predictor.predict_from_files([[sys.argv[1]]], [sys.argv[2] + "/LIDC-IDRI-0001"], save_probabilities=False,
                                 overwrite=True, num_processes_preprocessing=3, num_processes_segmentation_export=3)
"""


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and every descendant, from /proc."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def run_measured(script: str, arguments: list[str]) -> tuple[float, int]:
    """Wall time and peak process-tree memory of ``python -c script arguments``."""
    environment = {**os.environ, "nnUNet_raw": "/tmp", "nnUNet_preprocessed": "/tmp", "nnUNet_results": "/tmp"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", script, *arguments], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_bytes(process.pid))
        time.sleep(SAMPLE_SECONDS)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{process.stderr.read()[-3000:]}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lidc", type=Path, default=LIDC_CT, help="The LIDC-IDRI-0001 NIfTI file.")
    parser.add_argument("--no-tta-only", action="store_true", help="Skip the runs with mirroring.")
    options = parser.parse_args()
    if not options.lidc.is_file():
        sys.exit(f"{options.lidc} not found; give --lidc PATH (see ../shared/data/README.md)")
    import SimpleITK as sitk

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        model = root / "plain_unet__3d_fullres"
        write_model(model)
        print(f"input {options.lidc.name}: 512 x 512 x 133 at 0.70 x 0.70 x 2.5 mm; model patch "
              f"{CONFIGURATION['patch_size']} at {CONFIGURATION['spacing']} mm; CPU, {os.cpu_count()} cores")
        print(f"{'mirroring':<10}{'covplan s':>11}{'nnU-Net s':>11}{'time ratio':>12}"
              f"{'covplan MiB':>13}{'nnU-Net MiB':>13}{'memory ratio':>14}{'labels equal':>14}")
        for mirroring in (["no-tta"] if options.no_tta_only else ["no-tta", "tta"]):
            outputs = {name: root / f"{name}_{mirroring}" for name in ("covplan", "nnunet")}
            for output in outputs.values():
                output.mkdir()
            covplan_s, covplan_bytes = run_measured(COVPLAN, [str(options.lidc), str(outputs["covplan"]), str(model),
                                                              mirroring])
            nnunet_s, nnunet_bytes = run_measured(NNUNET, [str(options.lidc), str(outputs["nnunet"]), str(model),
                                                           mirroring])
            labels = [sitk.GetArrayFromImage(sitk.ReadImage(str(output / "LIDC-IDRI-0001.nii.gz")))
                      for output in outputs.values()]
            equal = float(np.mean(labels[0] == labels[1]))
            print(f"{'on' if mirroring == 'tta' else 'off':<10}{covplan_s:>11.1f}{nnunet_s:>11.1f}"
                  f"{covplan_s / nnunet_s:>12.2f}{covplan_bytes / 2**20:>13.0f}{nnunet_bytes / 2**20:>13.0f}"
                  f"{covplan_bytes / nnunet_bytes:>14.2f}{equal:>14.4%}")


if __name__ == "__main__":
    main()
