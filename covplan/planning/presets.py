"""Published configurations that override what the planner would choose.

A preset fixes target spacing, patch size, batch size and normalisation for the
configurations it names; the network topology still follows nnU-Net's rules for that
patch. Presets come through the ``register_presets`` hook like every other plugin kind
(:mod:`covplan.registry`): covplan's own from this module, registered as a built-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from covplan.hookspecs import hookimpl
from covplan.registry import PluginKind


@dataclass(frozen=True)
class Preset:
    """One published configuration. Spacing and patch size are in nnU-Net's axis order
    for 3D images read with SimpleITK: (z, y, x), i.e. slice axis first."""

    name: str
    description: str
    target_spacing: tuple[float, ...]
    patch_size: tuple[int, ...]
    batch_size: int
    configurations: tuple[str, ...] = ("3d_fullres",)
    normalization_scheme: str = "ZScoreNormalization"
    use_mask_for_norm: bool = False
    # What the dataset's converter must already have done to the intensities.
    expected_intensity_transform: str = "none"


# Method A (Müller et al., METHODS.md): HU clip [-1250, 250] and linear scaling to 0..255
# happen in the converter (covid-ct-seg writes grey8 images by default); the planner
# adds the per-sample z-score, nnU-Net's ZScoreNormalization without a mask.
METHOD_A = Preset(
    name="method-a",
    description="Müller et al. standard 3D U-Net: clip [-1250, 250] -> 0..255 (converter), z-score per "
                "sample, spacing 1.58 x 1.58 x 2.70 mm, patch 160 x 160 x 80, batch 2",
    target_spacing=(2.70, 1.58, 1.58),
    patch_size=(80, 160, 160),
    batch_size=2,
    expected_intensity_transform="clip [-1250, 250] -> linear 0..255",
)


@hookimpl
def register_presets(register):
    register(METHOD_A)


PRESETS: PluginKind[Preset] = PluginKind("register_presets", Preset, "preset")


def presets() -> dict[str, Preset]:
    """Every registered preset by name: covplan's own and those plugins register."""
    return {name: registered.plugin for name, registered in PRESETS.registered().items()}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the known ones."""
    return PRESETS.get(name)
