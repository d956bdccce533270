"""The slice-classifier example of docs/plugins.md ("A slice classifier"), run as written on
top of the twenty-line architecture: it learns to tell slices with a bright blob from empty ones."""

from __future__ import annotations

import types

import torch

from covplan.architectures.slice_classifier import SliceClassifierNetwork
from tests.paths import REPO_ROOT


def _python_block(text: str, heading: str) -> str:
    return text[text.index(heading):].split("```python\n", 1)[1].split("```", 1)[0]


def _example_module() -> types.ModuleType:
    text = (REPO_ROOT / "docs" / "plugins.md").read_text()
    module = types.ModuleType("covplan_classifier_example")
    for heading in ("## An architecture in twenty lines", "### A slice classifier"):
        exec(compile(_python_block(text, heading), "docs/plugins.md", "exec"), module.__dict__)
    return module


def _slices(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(count, 1, 16, 16, generator=generator) * 0.1
    lesions = torch.zeros(count, 1, 16, 16)
    lesions[::2, :, 4:10, 5:11] = 1  # every other slice holds a lesion, shown bright
    return images + 3 * lesions, lesions


def test_the_documented_recipe_learns_which_slices_hold_lesions():
    torch.manual_seed(0)
    plugin = _example_module().TinyConvNetWithClassifier()
    network = plugin.build_network({"patch_size": [16, 16]}, 1, 2)
    trained_weights = {name: value.clone() for name, value in network.state_dict().items()}
    recipe = plugin.slice_classifier()
    classifier = recipe.build(network)
    assert isinstance(classifier, SliceClassifierNetwork)
    optimizer = recipe.optimizer(classifier, 0.05)
    generator = torch.Generator().manual_seed(1)
    losses = [recipe.training_step(classifier, optimizer, *_slices(8, generator)) for _ in range(60)]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    images, lesions = _slices(6, generator)
    with torch.no_grad():
        probability = classifier.lesion_probability(images)
    assert probability.shape == (6,)
    assert (probability[::2] > 0.5).all() and (probability[1::2] < 0.5).all(), probability
    for name, value in network.state_dict().items():  # the segmentation network is left as it was
        torch.testing.assert_close(value, trained_weights[name])
