"""nnunetv2's pools, started inside nnunet_pools_die_with_parent, end with a killed parent."""

from __future__ import annotations

import multiprocessing
import os
import sys

from covplan.nnunet_pools import POOL_MODULES, nnunet_pools_die_with_parent
from tests.processes import needs_proc, seconds_a_worker_outlives_its_killed_parent

# The parent: a pool of two workers started as nnunetv2's preprocessor starts it, inside
# the context; it prints the pid of a worker (which has run its initializer once it answers).
PARENT = """
import os, time
from covplan.nnunet_pools import nnunet_pools_die_with_parent
from nnunetv2.preprocessing.preprocessors import default_preprocessor

with nnunet_pools_die_with_parent():
    pool = default_preprocessor.multiprocessing.get_context("spawn").Pool(2)
    print(pool.apply(os.getpid), flush=True)
    time.sleep(600)
"""


@needs_proc
def test_a_pool_worker_ends_when_its_parent_is_killed():
    assert seconds_a_worker_outlives_its_killed_parent([sys.executable, "-c", PARENT]) < 2


def test_the_modules_get_their_multiprocessing_back():
    import importlib

    modules = [importlib.import_module(name) for name in POOL_MODULES]
    with nnunet_pools_die_with_parent():
        assert all(module.multiprocessing is not multiprocessing for module in modules)
    assert all(module.multiprocessing is multiprocessing for module in modules)


def test_one_worker_runs_in_this_process_rather_than_a_spawned_one():
    from nnunetv2.preprocessing.preprocessors import default_preprocessor

    with nnunet_pools_die_with_parent():
        with default_preprocessor.multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply(os.getpid) == os.getpid()
