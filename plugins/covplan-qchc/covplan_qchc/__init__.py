"""covplan plugin: the QC-HC U-Net (3D U-Net with quick connections and hypercolumns).

Registers the architecture ``qchc_unet`` (2D and 3D). Its default loss is covplan's
``tversky_ce`` and its optimiser the paper's Adam (lr 1e-4) with x0.1 reduce-on-plateau.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

import covplan
from covplan.architectures.recipes import adam_reduce_on_plateau
from covplan_qchc.network import QCHCUNet

# The paper's Adam learning rate.
INITIAL_LR = 1e-4


class QCHCUNetArchitecture(covplan.ArchitecturePlugin):
    """U-Net with quick connections in every block and hypercolumn outputs (QC-HC U-Net)."""

    name = "qchc_unet"
    dims = (2, 3)
    default_loss = "tversky_ce"
    # The paper's 32 -> 512 feature maps; the planner doubles from the base up to the cap.
    base_num_features = 32
    max_num_features = 512

    def build_network(self, plan: dict[str, Any], num_input_channels: int, num_classes: int,
                      deep_supervision: bool = False) -> nn.Module:
        """The network for the plan's topology (``architecture.arch_kwargs``: features,
        kernel sizes, strides and convolutions per stage). Normalisation and
        non-linearity are the paper's BN + ReLU whatever the plan names, since the
        quick connections are defined on Conv-BN outputs."""
        topology = plan["architecture"]["arch_kwargs"]
        return QCHCUNet(num_input_channels, num_classes, topology["features_per_stage"], topology["kernel_sizes"],
                        topology["strides"], topology["n_conv_per_stage"], topology["n_conv_per_stage_decoder"],
                        deep_supervision)

    def configure_optimizers(self, network: nn.Module, num_epochs: int, initial_lr: float | None = None
                             ) -> tuple[torch.optim.Optimizer, ReduceLROnPlateau]:
        """Adam, lr 1e-4, cut by x0.1 when the training loss has not improved for 15
        epochs, down to lr/100. The paper states only "reduce on plateau"; patience and
        floor are method A's (same MIScnn pipeline, 1e-3 -> 1e-5). ``num_epochs`` is not
        needed: the schedule follows the loss (see
        :func:`covplan.architectures.recipes.step_scheduler`)."""
        return adam_reduce_on_plateau(network, INITIAL_LR if initial_lr is None else initial_lr)


@covplan.hookimpl
def register_architectures(register):
    register(QCHCUNetArchitecture())
