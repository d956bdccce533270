import numpy as np
import pytest

from covplan.evaluation.paired_statistics import holm, paired_difference


def test_a_model_better_on_every_case_has_a_small_p_and_an_interval_above_zero():
    rng = np.random.default_rng(1)
    baseline = rng.uniform(0.6, 0.8, 20)
    better = baseline + 0.05 + rng.uniform(0.0, 0.02, 20)
    result = paired_difference(better, baseline)
    assert (result.n, result.wins, result.ties, result.losses) == (20, 20, 0, 0)
    assert result.mean_difference == pytest.approx(np.mean(better - baseline))
    assert 0.05 < result.ci_low < result.mean_difference < result.ci_high < 0.07
    # Exact two-sided Wilcoxon: every one of 20 differences positive has probability 2 / 2**20.
    assert result.p == pytest.approx(2 / 2 ** 20)
    assert paired_difference(better, baseline) == result  # the bootstrap's seed is fixed


def test_identical_models_differ_by_nothing_with_p_one():
    values = [0.9, 0.8, 0.7, 0.85]
    result = paired_difference(values, list(values))
    assert (result.mean_difference, result.ci_low, result.ci_high, result.p) == (0.0, 0.0, 0.0, 1.0)
    assert (result.wins, result.ties, result.losses) == (0, 4, 0)


def test_the_exact_p_of_four_losses_and_the_interval_of_equal_differences():
    result = paired_difference([0.5, 0.6, 0.7, 0.8], [0.6, 0.7, 0.8, 0.9])
    assert result.p == pytest.approx(0.125)  # 2 / 2**4: nothing smaller exists with four cases
    assert result.ci_low == pytest.approx(-0.1) and result.ci_high == pytest.approx(-0.1)
    assert (result.wins, result.ties, result.losses) == (0, 0, 4)


def test_a_smaller_distance_wins_when_lower_is_better():
    result = paired_difference([1.0, 2.0, 3.0], [2.0, 2.0, 5.0], lower_is_better=True)
    assert (result.wins, result.ties, result.losses) == (2, 1, 0)
    assert result.mean_difference == pytest.approx(-1.0)


def test_under_two_cases_there_is_no_interval_and_no_test():
    one = paired_difference([0.9], [0.8])
    assert one.mean_difference == pytest.approx(0.1) and (one.ci_low, one.ci_high, one.p) == (None, None, None)
    none = paired_difference([], [])
    assert (none.n, none.mean_difference, none.p) == (0, None, None)


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
    assert holm([0.03, 0.01, None, 0.05, 0.02, 0.04]) == pytest.approx([0.09, 0.05, None, 0.09, 0.08, 0.09])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []
