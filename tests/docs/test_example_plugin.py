"""The worked example of docs/plugins.md, installed as a user would install it and found
through its entry point only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installed_dist import run_covplan
from tests.paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "docs" / "examples" / "covplan-example-net"

TRAIN_A_FEW_STEPS = """
import torch
from covplan.architectures.base import get_architecture
from covplan.losses.base import get_loss

torch.manual_seed(0)
plan = {"patch_size": [16, 16], "batch_size": 2}
network = get_architecture("example_net").build_network(plan, 1, 2)
loss = get_loss("example_ce").build_loss(plan, 2)
optimizer = torch.optim.Adam(network.parameters(), 1e-2)
image = torch.zeros(2, 1, 16, 16)
image[:, :, 4:12, 4:12] = 1
target = (image > 0).long()
for step in range(200):
    optimizer.zero_grad()
    value = loss(network(image), target)
    value.backward()
    optimizer.step()
accuracy = (network(image).argmax(1, keepdim=True) == target).float().mean().item()
print(round(value.item(), 4), accuracy)
"""


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(EXAMPLE)], check=True, timeout=300)
    return site


def test_example_is_listed_from_its_distribution(example_site):
    result = run_covplan("plugins", "--json", extra_path=example_site)
    assert result.returncode == 0, result.stderr
    by_name = {row["name"]: row for row in json.loads(result.stdout)["plugins"]}
    assert by_name["example_net"]["distribution"] == "covplan-example-net"
    assert by_name["example_net"]["default_loss"] == "example_ce"
    assert by_name["example_ce"]["kind"] == "loss"


@pytest.mark.slow
def test_example_network_learns_with_its_loss(example_site):
    result = subprocess.run([sys.executable, "-c", TRAIN_A_FEW_STEPS], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(example_site)}, timeout=120)
    assert result.returncode == 0, result.stderr
    final_loss, accuracy = map(float, result.stdout.split())
    assert final_loss < 0.1
    assert accuracy == 1.0
