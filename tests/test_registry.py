import pytest

import covplan

from covplan.registry import PluginConflictError, PluginError, UnknownPluginError
from covplan.architectures.base import architectures, get_architecture
from covplan.conversion.base import get_converter
from covplan.losses.base import get_loss, losses
from covplan.plugins import broken_plugins
from tests.fake_plugins import FailsInHook, FakeConverter, FakeLoss, FakeNet, Registers


def test_builtins_are_registered_through_the_hooks():
    registered = architectures()
    assert registered["plain_unet"].source.distribution == "covplan"
    assert registered["plain_unet"].plugin.dims == (2, 3)
    assert "dice_ce" in losses()


def test_fake_plugins_of_every_kind_are_found_by_name(register_plugin):
    register_plugin(Registers(FakeNet(), FakeLoss(), FakeConverter()), "fake")
    assert isinstance(get_architecture("fake_net"), FakeNet)
    assert isinstance(get_loss("fake_loss"), FakeLoss)
    assert isinstance(get_converter("fake_converter"), FakeConverter)
    assert architectures()["fake_net"].source.distribution == "<in-process fake>"


def test_unregistered_plugin_is_gone(register_plugin):
    register_plugin(Registers(FakeNet()), "fake")
    from covplan.plugins import pm

    pm.unregister(name="fake")
    assert "fake_net" not in architectures()


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownPluginError) as caught:
        get_architecture("no_such_net")
    # Installed plugin distributions (plugins/*) add to the built-ins.
    known = ", ".join(sorted(architectures()))
    assert {"plain_unet", "resenc_unet"} <= set(known.split(", "))
    assert str(caught.value) == f"unknown architecture 'no_such_net'; known: {known} (see `covplan plugins`)"


def test_duplicate_name_names_both_providers(register_plugin):
    register_plugin(Registers(FakeNet()), "first-dist")
    register_plugin(Registers(FakeNet()), "second-dist")
    with pytest.raises(PluginConflictError) as caught:
        architectures()
    message = str(caught.value)
    assert "architecture 'fake_net' is registered twice" in message
    assert "<in-process first-dist>" in message and "<in-process second-dist>" in message


def test_duplicate_of_a_builtin_names_covplan(register_plugin):
    class Impostor(FakeNet):
        name = "plain_unet"

    register_plugin(Registers(Impostor()), "impostor")
    with pytest.raises(PluginConflictError, match=r"by covplan 0\.1\.0 and by <in-process impostor>"):
        architectures()


def test_plugin_failing_in_its_hook_is_isolated(register_plugin, caplog):
    register_plugin(Registers(FakeNet()), "good")
    register_plugin(FailsInHook(), "bad")
    registered = architectures()
    assert {"plain_unet", "fake_net"} <= set(registered)
    broken = broken_plugins()
    assert [b.plugin_name for b in broken] == ["bad"]
    assert broken[0].error == "RuntimeError: weights file missing"
    assert "covplan plugin 'bad'" in caplog.text and "weights file missing" in caplog.text


def test_registering_a_non_plugin_object_is_refused(register_plugin):
    class NotAPlugin:
        name = "not_a_plugin"

    class RegistersAnything:
        @covplan.hookimpl
        def register_losses(self, register):
            register(NotAPlugin())

    register_plugin(RegistersAnything(), "anything")
    with pytest.raises(PluginError, match="is not a covplan.LossPlugin instance"):
        losses()


def test_plugin_without_build_network_cannot_be_instantiated():
    class Incomplete(covplan.ArchitecturePlugin):
        name = "incomplete"

    with pytest.raises(TypeError, match="build_network"):
        Incomplete()
