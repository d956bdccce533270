"""covplan predict against nnUNetv2_predict (its Python API, with the command's default
3 preprocessing and 3 export processes) on the real LIDC-IDRI-0001 CT, on CPU, with the same
plans and the same weights: wall time and peak memory (the summed resident memory of the
process and all its children, sampled every 50 ms), with and without mirroring.

The model is a small plain_unet (4 stages, 4 to 32 features, patch 64 x 128 x 128 at
2.5 x 2 x 2 mm) trained here for a few minutes on the CT's own thresholded lung (the air
inside the body, as bench_plan_preprocess.py labels it), so that the label agreement of
covplan's faster paths (--crop body, --fast, ONNX Runtime) with nnU-Net's full prediction
means something. ``--untrained`` keeps seeded weights (timing only).

``--architectures [NAME ...]`` instead times each architecture (plain_unet, resenc_unet,
qchc_unet, coarse_refine by default) predicting the same real COVID-SemiSeg slices in one
process, as ratios to plain_unet (see :func:`architecture_timings`).

Run: ``.venv/bin/python benchmarks/bench_predict.py [--lidc PATH] [--no-tta-only] [--train-steps N]``
or ``.venv/bin/python benchmarks/bench_predict.py --architectures [--repetitions 3] [--no-tta-only]``
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
from common import LIDC_CT, SHARED_DATA, run_in_scratch_folder

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


def preprocessed_lung_case(ct_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """``ct_file`` and its thresholded lung (label 1) preprocessed by nnU-Net's own
    preprocessor with these plans: data and segmentation, channels first."""
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    from bench_plan_preprocess import lidc_lung_labels
    import SimpleITK as sitk

    plans = PlansManager(PLANS)
    image = sitk.ReadImage(str(ct_file))
    volume = sitk.GetArrayFromImage(image).astype(np.float32)[None]
    label = lidc_lung_labels(volume[0])[None].astype(np.int16)
    properties = {"spacing": list(image.GetSpacing())[::-1]}
    data, seg, _ = DefaultPreprocessor(verbose=False).run_case_npy(volume, label, properties, plans,
                                                                   plans.get_configuration("3d_fullres"), DATASET_JSON)
    return data, seg


def train_lung_network(network, data: np.ndarray, seg: np.ndarray, steps: int) -> list[float]:
    """Train ``network`` on random patches of the preprocessed CT ``data``, the label being
    the thresholded lung of ``seg`` (label 1); returns the loss of each step."""
    import torch

    data, seg = torch.from_numpy(data), torch.from_numpy(np.maximum(seg, 0)).long()
    patch = CONFIGURATION["patch_size"]
    generator = np.random.default_rng(0)
    optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
    losses = []
    network.train()
    for _ in range(steps):
        corner = [int(generator.integers(0, max(1, size - edge + 1))) for size, edge in zip(data.shape[1:], patch)]
        window = tuple(slice(start, start + edge) for start, edge in zip(corner, patch))
        x, y = data[(slice(None), *window)][None], seg[(0, *window)][None]
        logits = network(x)
        probabilities = logits.softmax(1)[:, 1]
        target = (y == 1).float()
        dice = 1 - (2 * (probabilities * target).sum() + 1) / (probabilities.sum() + target.sum() + 1)
        loss = torch.nn.functional.cross_entropy(logits, y) + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    network.eval()
    return losses


def write_model(folder: Path, ct_file: Path | None = None, train_steps: int = 0) -> list[float]:
    """A model folder both tools read: plans.json, dataset.json, covplan_dataset.json (HU,
    so that covplan feeds the network what nnU-Net feeds it) and fold_0's checkpoint,
    trained for ``train_steps`` steps on ``ct_file``'s lung (seeded, untrained weights with 0).
    The preprocessed CT is kept beside the folder, where a WORK folder keeps its training
    cases, so that ``export --int8`` can calibrate on it."""
    import torch
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetNumpy

    from covplan import __version__
    from covplan.architectures.base import get_architecture
    from covplan.training.checkpoints import CHECKPOINT_FORMAT_VERSION

    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps(PLANS, indent=2))
    (folder / "dataset.json").write_text(json.dumps(DATASET_JSON, indent=2))
    (folder / "covplan_dataset.json").write_text(json.dumps({"format_version": 1, "intensity_domain": "hu"}))
    torch.manual_seed(0)
    network = get_architecture("plain_unet").build_network(CONFIGURATION, 1, 3)
    losses = []
    if train_steps:
        data, seg = preprocessed_lung_case(ct_file)
        losses = train_lung_network(network, data, seg, train_steps)
        cases = folder.parent / CONFIGURATION["data_identifier"]
        cases.mkdir()
        nnUNetDatasetNumpy.save_case(data, seg, {"spacing": CONFIGURATION["spacing"]}, str(cases / "lidc_0001"))
    torch.save({"covplan": CHECKPOINT_FORMAT_VERSION, "network_weights": network.state_dict(),
                "architecture": {"name": "plain_unet", "distribution": "covplan", "version": __version__},
                "init_args": {"plans": PLANS, "configuration": "3d_fullres", "fold": 0, "dataset_json": DATASET_JSON},
                "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": (0, 1, 2)},
               folder / "fold_0" / "checkpoint_final.pth")
    return losses


COVPLAN = """
import sys
from pathlib import Path
from covplan.inference import PredictionSettings, predict
options = dict(option.split("=") for option in sys.argv[5:])
predict(Path(sys.argv[1]), Path(sys.argv[2]), [Path(sys.argv[3])],
        PredictionSettings(folds=[0], use_mirroring=sys.argv[4] == "tta", device="cpu", overwrite=True,
                           crop=options.get("crop", "body"), fast=options.get("fast") == "1",
                           backend=options.get("backend", "torch") if "archive" not in options else None))
"""
# covplan's variants: (name, mirroring, options); nnU-Net runs once per mirroring setting.
VARIANTS = [("full image (--crop none)", "no-tta", ["crop=none"]),
            ("default (--crop body)", "no-tta", []),
            ("--crop body, ONNX Runtime", "no-tta", ["backend=onnxruntime"]),
            # The archive (exported with --onnx) as a user predicts it: no --backend, so ONNX Runtime on CPU.
            ("archive, default backend", "no-tta", ["archive=1"]),
            # The same archive exported with --onnx --int8 (needs a trained model: calibration tiles).
            ("int8 archive, default backend", "no-tta", ["archive=int8"]),
            ("--fast (--crop body)", "no-tta", ["fast=1"]),
            ("--fast, ONNX Runtime", "no-tta", ["fast=1", "backend=onnxruntime"]),
            ("full image (--crop none)", "tta", ["crop=none"]),
            ("default (--crop body)", "tta", []),
            ("--crop body, ONNX Runtime", "tta", ["backend=onnxruntime"])]

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


def lung_dice(first: np.ndarray, second: np.ndarray) -> float:
    a, b = first == 1, second == 1
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def export_onnx_archive(model: Path, archive: Path, int8: bool = False) -> None:
    from covplan.export import export_archive

    export_archive([model], archive, onnx=True, int8=int8)


ARCHITECTURES_2D = ("plain_unet", "resenc_unet", "qchc_unet", "coarse_refine")


def write_untrained_slice_models(root: Path, slices_dir: Path, architectures: list[str]) -> tuple[Path, list[Path]]:
    """The real slices converted and planned (2d) for ``architectures`` under ``root``,
    one model folder per architecture with seeded, untrained weights (prediction time
    does not depend on training); the WORK folder and the largest, median and smallest
    slice (by pixel count) to predict."""
    import torch

    from covplan import __version__
    from covplan.planning import plan_dataset
    from covplan.architectures.base import get_architecture
    from covplan.conversion.base import get_converter
    from covplan.training.checkpoints import CHECKPOINT_FORMAT_VERSION

    dataset, work = root / "dataset", root / "work"
    get_converter("slices").convert(slices_dir, dataset)
    plan_dataset(dataset, work, architectures, configurations=["2d"], num_processes=1)
    dataset_json = json.loads((work / "dataset.json").read_text())
    for architecture in architectures:
        plans = json.loads((work / f"plans_{architecture}.json").read_text())
        folder = work / f"{architecture}__2d"
        (folder / "fold_0").mkdir(parents=True)
        for name in ("dataset.json", "dataset_fingerprint.json", "covplan_dataset.json"):
            (folder / name).write_bytes((work / name).read_bytes())
        (folder / "plans.json").write_text(json.dumps(plans))
        torch.manual_seed(0)
        network = get_architecture(architecture).build_network(plans["configurations"]["2d"], 1,
                                                               len(dataset_json["labels"]))
        torch.save({"covplan": CHECKPOINT_FORMAT_VERSION, "network_weights": network.state_dict(),
                    "architecture": {"name": architecture, "distribution": "bench", "version": __version__},
                    "init_args": {"plans": plans, "configuration": "2d", "fold": 0, "dataset_json": dataset_json},
                    "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": (0, 1)},
                   folder / "fold_0" / "checkpoint_final.pth")
    import SimpleITK as sitk

    images = sorted((dataset / "imagesTr").glob("*_0000.nii.gz"),
                    key=lambda path: int(np.prod(sitk.ReadImage(str(path)).GetSize())))
    return work, [images[-1], images[len(images) // 2], images[0]]


def architecture_timings(work: Path, images: list[Path], architectures: list[str], repetitions: int,
                         mirroring: bool) -> dict[str, list[float]]:
    """Seconds per repetition for each architecture to preprocess, predict (sliding
    window, one fold) and export the label maps of ``images``; the architectures take
    turns within each repetition, so that load from other jobs on a shared machine falls
    on all of them alike."""
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    from covplan.inference.model_loading import load_model
    from covplan.inference.predictor import ModelPredictor

    predictors = {name: ModelPredictor(load_model(work / f"{name}__2d"), torch.device("cpu"), mirroring)
                  for name in architectures}
    inputs = [SimpleITKIO().read_images([str(image)]) for image in images]
    seconds: dict[str, list[float]] = {name: [] for name in architectures}
    for _ in range(repetitions):
        for name, predictor in predictors.items():
            start = time.perf_counter()
            for data, properties in inputs:
                preprocessed, preprocessed_properties = predictor.preprocess(data, properties)
                list(predictor.fold_outputs(preprocessed, preprocessed_properties, probabilities=False))
            seconds[name].append(time.perf_counter() - start)
    return seconds


def print_architecture_timings(options: argparse.Namespace) -> None:
    """The ``--architectures`` part: a markdown table of seconds (median, min-max) and
    the median of the per-repetition ratios to plain_unet."""
    import statistics

    architectures = ["plain_unet"] + [name for name in options.architectures or ARCHITECTURES_2D
                                      if name != "plain_unet"]
    mirroring = not options.no_tta_only

    def run(root: Path) -> None:
        work, images = write_untrained_slice_models(root, options.slices_dir, architectures)
        plans = {name: json.loads((work / f"plans_{name}.json").read_text())["configurations"]["2d"]
                 for name in architectures}
        seconds = architecture_timings(work, images, architectures, options.repetitions, mirroring)
        import SimpleITK as sitk

        sizes = ", ".join("x".join(map(str, sitk.ReadImage(str(image)).GetSize())) for image in images)
        print(f"{len(images)} real slices ({sizes} pixels), one fold, untrained, mirroring "
              f"{'on' if mirroring else 'off'}, {options.repetitions} repetitions, CPU {os.cpu_count()} cores")
        print("| architecture | patch | seconds, median (min-max) | ratio to plain_unet, median (min-max) |")
        print("|---|---|---|---|")
        for name in architectures:
            ratios = [mine / plain for mine, plain in zip(seconds[name], seconds["plain_unet"])]
            print(f"| {name} | {'x'.join(map(str, plans[name]['patch_size']))} | "
                  f"{statistics.median(seconds[name]):.1f} ({min(seconds[name]):.1f}-{max(seconds[name]):.1f}) | "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")

    run_in_scratch_folder("bench_predict_architectures_", run, workers=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lidc", type=Path, default=LIDC_CT, help="The LIDC-IDRI-0001 NIfTI file.")
    parser.add_argument("--no-tta-only", action="store_true", help="Skip the runs with mirroring.")
    parser.add_argument("--train-steps", type=int, default=150,
                        help="Training steps of the lung model (0: untrained, seeded weights).")
    parser.add_argument("--architectures", nargs="*", metavar="NAME",
                        help="Instead: time these architectures (default: " + ", ".join(ARCHITECTURES_2D)
                             + ") on the real slices, as ratios to plain_unet.")
    parser.add_argument("--slices-dir", type=Path, default=SHARED_DATA / "covid_semiseg_train",
                        help="COVID-SemiSeg training slices (Imgs/, GT/) for --architectures.")
    parser.add_argument("--repetitions", type=int, default=3, help="Repetitions of --architectures.")
    options = parser.parse_args()
    if options.architectures is not None:
        if not (options.slices_dir / "Imgs").is_dir():
            sys.exit(f"no COVID-SemiSeg slices in {options.slices_dir} (Imgs/ and GT/); give --slices-dir")
        print_architecture_timings(options)
        return
    if not options.lidc.is_file():
        sys.exit(f"{options.lidc} not found; give --lidc PATH (see ../shared/data/README.md)")
    import SimpleITK as sitk

    from bench_plan_preprocess import lidc_lung_labels

    from covplan.errors import CovplanError

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        model = root / "plain_unet__3d_fullres"
        start = time.perf_counter()
        losses = write_model(model, options.lidc, options.train_steps)
        archive, int8_archive = root / "lung_model.zip", root / "lung_model_int8.zip"
        export_onnx_archive(model, archive)
        if options.train_steps:
            try:
                export_onnx_archive(model, int8_archive, int8=True)
            except CovplanError as refusal:  # labels below Dice 0.99 of float32's: the figure is the result
                print(f"<!-- int8 export refused: {refusal} -->")
        print(f"input {options.lidc.name}: 512 x 512 x 133 at 0.70 x 0.70 x 2.5 mm; model patch "
              f"{CONFIGURATION['patch_size']} at {CONFIGURATION['spacing']} mm; CPU, {os.cpu_count()} cores")
        if losses:
            print(f"lung model: {len(losses)} steps in {time.perf_counter() - start:.0f} s, loss "
                  f"{np.mean(losses[:10]):.3f} (first 10) -> {np.mean(losses[-10:]):.3f} (last 10)")
        reference_lung = lidc_lung_labels(sitk.GetArrayFromImage(sitk.ReadImage(str(options.lidc))))
        print("| mirroring | covplan path | covplan s | nnU-Net s | time ratio | covplan MiB | nnU-Net MiB | "
              "memory ratio | lung Dice vs nnU-Net | voxels equal | lung Dice vs thresholded lung |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        nnunet_runs, archive_labels = {}, {}
        for name, mirroring, variant in VARIANTS:
            if (options.no_tta_only and mirroring == "tta") or ("archive=int8" in variant and not int8_archive.is_file()):
                continue
            if mirroring not in nnunet_runs:
                output = root / f"nnunet_{mirroring}"
                output.mkdir()
                seconds, peak = run_measured(NNUNET, [str(options.lidc), str(output), str(model), mirroring])
                labels = sitk.GetArrayFromImage(sitk.ReadImage(str(output / "LIDC-IDRI-0001.nii.gz")))
                nnunet_runs[mirroring] = (seconds, peak, labels)
                print(f"<!-- nnU-Net {mirroring}: lung Dice vs the thresholded lung "
                      f"{lung_dice(labels, reference_lung):.3f} -->")
            output = root / f"covplan_{len(list(root.iterdir()))}"
            output.mkdir()
            source = (int8_archive if "archive=int8" in variant else
                      archive if "backend=onnxruntime" in variant or "archive=1" in variant else model)
            seconds, peak = run_measured(COVPLAN, [str(options.lidc), str(output), str(source), mirroring, *variant])
            labels = sitk.GetArrayFromImage(sitk.ReadImage(str(output / "LIDC-IDRI-0001.nii.gz")))
            nnunet_s, nnunet_peak, nnunet_labels = nnunet_runs[mirroring]
            print(f"| {'on' if mirroring == 'tta' else 'off'} | {name} | {seconds:.1f} | {nnunet_s:.1f} | "
                  f"{seconds / nnunet_s:.2f} | {peak / 2**20:.0f} | {nnunet_peak / 2**20:.0f} | "
                  f"{peak / nnunet_peak:.2f} | {lung_dice(labels, nnunet_labels):.4f} | "
                  f"{np.mean(labels == nnunet_labels):.4%} | {lung_dice(labels, reference_lung):.3f} |", flush=True)
            if "archive=1" in variant or "archive=int8" in variant:
                archive_labels[variant[0]] = labels
        if len(archive_labels) == 2:
            print(f"<!-- int8 archive vs float32 archive: lung Dice "
                  f"{lung_dice(archive_labels['archive=int8'], archive_labels['archive=1']):.4f} -->")


if __name__ == "__main__":
    main()
