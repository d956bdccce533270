"""Every architecture that ships with covplan exports to ONNX and ONNX Runtime reproduces
its logits; a network the exporter cannot trace is refused naming it."""

from __future__ import annotations

import pytest
import torch

from covplan.architectures.example_plans import unet_plan
from covplan.architectures.inference import FullResolutionOutput
from covplan.errors import CovplanError
from covplan.export.onnx_export import MAX_LOGIT_DIFFERENCE, export_checked
from covplan.architectures.base import architectures

SHIPPED = ["plain_unet", "resenc_unet", "qchc_unet", "coarse_refine"]
SMALL_PLANS = {2: unet_plan([64, 64], [[1, 1], [2, 2], [2, 2], [2, 2]], 8, 32),
               3: unet_plan([16, 32, 32], [[1, 1, 1], [1, 2, 2], [2, 2, 2]], 8, 32)}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_architecture_exports_within_the_bound(name, tmp_path):
    plugin = architectures()[name].plugin
    assert plugin.onnx_unsupported is None
    for dims in plugin.dims:
        torch.manual_seed(0)
        network = FullResolutionOutput(plugin.build_network(SMALL_PLANS[dims], 1, 3)).eval()
        example = torch.randn(1, 1, *SMALL_PLANS[dims]["patch_size"])
        difference, bound = export_checked(network, example, tmp_path / f"{name}_{dims}d.onnx", name)
        assert difference <= bound and bound >= MAX_LOGIT_DIFFERENCE


class BranchesOnItsInput(torch.nn.Module):
    """Python control flow on a tensor's value: a graph cannot hold it."""

    def forward(self, x):
        if x.mean() > 0:
            return x.repeat(1, 3, 1, 1)
        return -x.repeat(1, 3, 1, 1)


def test_a_network_the_exporter_cannot_trace_is_refused_by_name(tmp_path):
    with pytest.raises(CovplanError, match="the network of branching_net cannot be exported to ONNX .*export without --onnx"):
        export_checked(BranchesOnItsInput().eval(), torch.randn(1, 1, 8, 8), tmp_path / "net.onnx", "branching_net")
