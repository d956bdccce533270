"""Selected trackers: nested runs, their end status, and a failing tracker turned off
after one warning while the others go on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from covplan.errors import CovplanError
from covplan.registry import UnknownPluginError
from covplan.tracking.base import trackers
from covplan.tracking import RunDescription, open_tracking
from covplan.tracking import session as tracking_session
from covplan.tracking.base import flatten_params
from covplan.interruption import Interrupted
from tests.fake_plugins import RecordingTracker, Registers


def _description(name: str, folder: Path) -> RunDescription:
    return RunDescription(name=name, kind="fold", experiment="Dataset002_Disc", folder=folder, work=folder,
                          params={"settings.seed": 1})


def test_a_run_inside_a_run_is_its_child_and_ends_first(register_plugin, tmp_path):
    recorder = RecordingTracker()
    register_plugin(Registers(recorder), "recording-plugin")
    tracking = open_tracking(["recording", "recording"], "http://tracking.example:5000")
    (tmp_path / "summary.json").write_text("{}")
    with tracking.run(_description("group", tmp_path)):
        with tracking.run(_description("fold 0", tmp_path)):
            tracking.log_metrics({"train_loss": 0.5}, step=0)
            tracking.log_artifacts([tmp_path / "summary.json", tmp_path / "absent.png"])
        tracking.log_metrics({"cv_dice_lung": 0.9})
    assert recorder.calls == [
        ("start_run", "group", None, "http://tracking.example:5000"),
        ("start_run", "fold 0", "group", "http://tracking.example:5000"),
        ("log_metrics", "fold 0", {"train_loss": 0.5}, 0),
        ("log_artifact", "fold 0", "summary.json", ""),
        ("end", "fold 0", "FINISHED"),
        ("log_metrics", "group", {"cv_dice_lung": 0.9}, None),
        ("end", "group", "FINISHED"),
    ]


@pytest.mark.parametrize("error, status", [(RuntimeError("out of memory"), "FAILED"), (Interrupted(15), "KILLED"),
                                           (KeyboardInterrupt(), "KILLED")])
def test_a_run_ends_failed_or_killed_with_the_error_raised(register_plugin, tmp_path, error, status):
    recorder = RecordingTracker()
    register_plugin(Registers(recorder), "recording-plugin")
    tracking = open_tracking(["recording"])
    with pytest.raises(type(error)):
        with tracking.run(_description("fold 0", tmp_path)):
            raise error
    assert recorder.calls[-1] == ("end", "fold 0", status)


@pytest.mark.parametrize("failing_call", ["start_run", "log_metrics"])
def test_a_failing_tracker_is_warned_about_once_and_the_others_get_everything(register_plugin, tmp_path, caplog,
                                                                              failing_call):
    broken, working = RecordingTracker("broken", fails_in=(failing_call,)), RecordingTracker("working")
    register_plugin(Registers(broken, working), "recording-plugins")
    tracking = open_tracking(["broken", "working"])
    with caplog.at_level(logging.WARNING, logger="covplan.tracking.session"):
        with tracking.run(_description("fold 0", tmp_path)):
            for epoch in range(3):
                tracking.log_metrics({"train_loss": 1.0 / (epoch + 1)}, step=epoch)
    warnings = [record.getMessage() for record in caplog.records if record.name == "covplan.tracking.session"]
    assert warnings == ["tracker 'broken' failed and is off for the rest of this command (ConnectionError: broken "
                        "cannot reach its server); training goes on and training_log.csv keeps every epoch"]
    assert [call[0] for call in broken.calls] == ["start_run", *(["log_metrics"] if failing_call == "log_metrics"
                                                                 else [])]
    assert [call[-1] for call in working.calls if call[0] == "log_metrics"] == [0, 1, 2]
    assert working.calls[-1] == ("end", "fold 0", "FINISHED")


def test_an_unknown_tracker_is_refused_with_the_known_ones():
    with pytest.raises(UnknownPluginError, match=r"^unknown tracker 'wandb'; known: mlflow, tensorboard \(see"):
        open_tracking(["wandb"])


def test_a_tracker_without_its_package_names_what_installs_it(register_plugin, monkeypatch):
    register_plugin(Registers(RecordingTracker("needs_extra", requires=("covplan_absent_module",))), "needs")
    with pytest.raises(CovplanError) as raised:
        open_tracking(["needs_extra"])
    assert str(raised.value) == ("tracker 'needs_extra' needs covplan_absent_module, which is not installed; "
                                 "pip install needs_extra")
    real_find_spec = tracking_session.find_spec
    monkeypatch.setattr(tracking_session, "find_spec",
                        lambda name: None if name == "mlflow" else real_find_spec(name))
    with pytest.raises(CovplanError, match=r"^tracker 'mlflow' needs mlflow, .*pip install 'covplan\[mlflow\]'$"):
        open_tracking(["mlflow"])


def test_built_in_trackers_are_credited_to_covplan():
    found = trackers()
    assert {name: found[name].source.distribution for name in ("mlflow", "tensorboard")} == \
        {"mlflow": "covplan", "tensorboard": "covplan"}


def test_nested_values_become_dotted_parameters():
    assert flatten_params({"plans": {"patch_size": [32, 32], "architecture": {"n_stages": 3}}, "loss": None},
                          "run.") == {"run.plans.patch_size": "[32, 32]", "run.plans.architecture.n_stages": 3,
                                      "run.loss": None}


def test_two_trackers_of_one_name_are_a_conflict_naming_both(register_plugin):
    from covplan.registry import PluginConflictError

    register_plugin(Registers(RecordingTracker("twin")), "first")
    register_plugin(Registers(RecordingTracker("twin")), "second")
    with pytest.raises(PluginConflictError, match=r"^tracker 'twin' is registered twice: by <in-process first> and "
                                                  r"by <in-process second>; uninstall one"):
        open_tracking(["twin"])
