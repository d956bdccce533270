import pytest

from covplan.evaluation.find_best import winner_against_runner_up


def _candidate(name, per_case):
    return {"name": name, "foreground_dice_per_case": per_case}


def test_a_winner_better_on_every_shared_case_beats_the_runner_up_significantly():
    best = _candidate("best", {f"case_{i}": 0.9 + 0.001 * i for i in range(12)})
    runner_up = _candidate("second", {f"case_{i}": 0.85 for i in range(1, 13)})
    test = winner_against_runner_up([best, runner_up])
    assert test["runner_up"] == "second" and test["n"] == 11  # the cases both scored
    assert test["p"] == pytest.approx(2 / 2 ** 11) and test["significant"] and test["ci_low"] > 0


def test_equal_candidates_are_no_significant_difference_and_one_candidate_has_no_test():
    same = {f"case_{i}": 0.8 for i in range(6)}
    test = winner_against_runner_up([_candidate("a", same), _candidate("b", dict(same))])
    assert (test["mean_difference"], test["p"], test["significant"]) == (0.0, 1.0, False)
    assert winner_against_runner_up([_candidate("a", same)]) is None
