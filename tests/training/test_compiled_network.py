"""torch.compile in training: the compiled network computes what the eager one does, a
network that does not compile trains eager after one warning naming its architecture, and
the throughput probe times both ways where covplan compiles by default."""

from __future__ import annotations

import logging

import pytest
import torch

from covplan.training import TrainingSettings
from covplan.training import compiled_network as compiled_module
from covplan.training.compiled_network import CompiledNetwork, should_compile
from covplan.training.inputs import load_training_inputs
from covplan.training.probe import measure_throughput
from covplan.training.trainer import Trainer

# What torch.compile does without generating C++ (inductor takes ~20 s for even a tiny
# network on a loaded CPU): dynamo's tracing and AOT autograd's forward and backward graphs.
CHEAP_BACKEND = "aot_eager"


def tiny_network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.LeakyReLU(), torch.nn.Conv2d(4, 2, 1))


def test_the_default_compiles_on_cuda_only_as_nnunet_and_the_switch_overrides_it():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (should_compile(None, cpu), should_compile(None, cuda)) == (False, True)
    assert (should_compile(True, cpu), should_compile(False, cuda)) == (True, False)


def test_a_compiled_network_computes_the_eager_outputs_and_gradients(monkeypatch):
    monkeypatch.setattr(compiled_module, "COMPILE_BACKEND", CHEAP_BACKEND)
    network, tile = tiny_network(), torch.randn(2, 1, 16, 16)
    expected = network(tile)
    expected.square().sum().backward()
    expected_grad = network[0].weight.grad.clone()
    network.zero_grad()
    compiled = CompiledNetwork(network, "plain_unet")
    output = compiled(tile)
    output.square().sum().backward()
    assert compiled.is_compiled and compiled.proven
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(network[0].weight.grad, expected_grad)


@pytest.mark.parametrize("fails_at", ["wrapping", "first call"])
def test_a_network_that_does_not_compile_trains_eager_after_one_warning(fails_at, monkeypatch, caplog):
    def failing_compile(network, **_):
        if fails_at == "wrapping":
            raise RuntimeError("dynamo cannot trace this network\nsecond line")

        def call(*args):
            raise RuntimeError("backend compiler failed")
        return call

    monkeypatch.setattr(torch, "compile", failing_compile)
    network, tile = tiny_network(), torch.randn(1, 1, 8, 8)
    with caplog.at_level(logging.WARNING, logger=compiled_module.__name__):
        compiled = CompiledNetwork(network, "fancy_net")
        first, second = compiled(tile), compiled(tile)
    torch.testing.assert_close(first, network(tile))
    torch.testing.assert_close(second, first)
    assert not compiled.is_compiled
    [warning] = [record.getMessage() for record in caplog.records]
    assert "architecture 'fancy_net': its network does not compile" in warning
    assert "second line" not in warning and "--no-compile" in warning


@pytest.mark.slow  # a few steps of the tiny 2D patch, eager and compiled: the probe's timing is the behaviour
def test_the_probe_times_both_ways_where_compiling_is_the_default(disc_work, monkeypatch):
    monkeypatch.setattr(compiled_module, "COMPILE_BACKEND", CHEAP_BACKEND)
    monkeypatch.setattr(compiled_module, "compile_by_default", lambda device: True)  # CPU playing CUDA
    trainer = Trainer(load_training_inputs(disc_work, "plain_unet", "2d"), 0,
                      TrainingSettings(num_workers=0, test_time_mirroring=False))
    weights = {name: value.clone() for name, value in trainer.network.state_dict().items()}
    try:
        throughput = measure_throughput(trainer, steps=1)
    finally:
        trainer.shutdown_loaders()
    assert isinstance(trainer.model, CompiledNetwork) and throughput.compiled
    assert throughput.eager_seconds_per_step > 0 and throughput.seconds_per_step > 0
    assert throughput.compile_s >= 0
    assert throughput.eager().seconds_per_step == throughput.eager_seconds_per_step
    for name, value in trainer.network.state_dict().items():
        torch.testing.assert_close(value, weights[name])
