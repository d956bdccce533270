"""predict's default thread count: the cores this process may use, at most OMP_NUM_THREADS."""

from __future__ import annotations

import os

import pytest

from covplan.inference.predict import available_cores


@pytest.mark.parametrize("limit, expected", [("1", 1), ("64", None), ("", None), ("zero", None), ("0", None)])
def test_omp_num_threads_caps_the_cores_where_it_is_a_positive_number(limit, expected, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv("OMP_NUM_THREADS", limit)
    assert available_cores() == (expected or 2)
