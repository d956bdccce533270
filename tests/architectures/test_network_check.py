"""A plugin's network is built and run once on the meta device before any work; a faulty
one is named with its distribution and what it returned."""

from __future__ import annotations

import pytest

from covplan.architectures.example_plans import reference_plan
from covplan.architectures.network_check import check_network
from covplan.registry import PluginError
from tests.fake_plugins import BuildFailsNet, ExtraChannelsNet, FakeNet, Registers


def test_networks_that_fit_pass(register_plugin):
    register_plugin(Registers(FakeNet()), "undo-fake")
    check_network("fake_net", reference_plan(2), 1, 3)
    check_network("plain_unet", reference_plan(3), 2, 4)


@pytest.mark.parametrize(("plugin", "dims", "message"), [
    (BuildFailsNet(), 2,
     "architecture 'build_fails_net' (<in-process undo-faulty>): building or running its network "
     "(deep_supervision=False) on an input of (1, 1, 128, 128) raised RuntimeError: weights file missing; "
     "fix or update the plugin, or choose another architecture"),
    (ExtraChannelsNet(), 3,
     "architecture 'extra_channels_net' (<in-process undo-faulty>): its network (deep_supervision=False) "
     "returned an output of shape (1, 7, 64, 64, 64) for an input of (1, 1, 64, 64, 64); expected "
     "(1, 3, 64, 64, 64) (3 classes); fix or update the plugin, or choose another architecture"),
])
def test_a_faulty_network_is_named_with_its_distribution_and_what_it_did(register_plugin, plugin, dims, message):
    register_plugin(Registers(plugin), "undo-faulty")
    with pytest.raises(PluginError) as caught:
        check_network(plugin.name, reference_plan(dims), 1, 3)
    assert str(caught.value) == message
