"""The tracker example of docs/plugins.md ("An experiment tracker"), run as written."""

from __future__ import annotations

import json
import types

from covplan.tracking import RunDescription, open_tracking
from tests.paths import REPO_ROOT


def _example_source() -> str:
    text = (REPO_ROOT / "docs" / "plugins.md").read_text()
    section = text[text.index("## An experiment tracker"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_tracker_writes_each_call_as_a_line(register_plugin, tmp_path):
    module = types.ModuleType("covplan_jsonl_example")
    exec(compile(_example_source(), "docs/plugins.md", "exec"), module.__dict__)
    register_plugin(module, "jsonl-example")
    tracking = open_tracking(["jsonl"])
    run = RunDescription(name="plain_unet__2d fold 0", kind="fold", experiment="Dataset002_Disc", folder=tmp_path,
                         work=tmp_path, params={"settings.seed": 12345})
    (tmp_path / "progress.png").write_bytes(b"png")
    with tracking.run(run):
        tracking.log_metrics({"train_loss": 0.5}, step=0)
        tracking.log_artifacts([tmp_path / "progress.png"])
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert lines == [{"run": "plain_unet__2d fold 0", "kind": "fold", "params": {"settings.seed": 12345}},
                     {"step": 0, "metrics": {"train_loss": 0.5}}, {"artifact": str(tmp_path / "progress.png")},
                     {"status": "FINISHED"}]
