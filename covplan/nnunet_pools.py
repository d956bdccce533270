"""nnunetv2's worker pools, ended with covplan's process.

nnunetv2's integrity check, fingerprint extractor and preprocessor start their workers
with ``multiprocessing.get_context("spawn").Pool(n)`` and no initializer. Killed with
SIGKILL, covplan cannot end them, and they wait on their task queue for good. Rather than
copying those functions to add an initializer, :func:`nnunet_pools_die_with_parent` gives
their modules, for the duration of one call, a ``multiprocessing`` whose pools start each
worker with :func:`covplan.worker_lifetime.die_with_parent` (the way
:func:`covplan.nnunet_paths.nnunet_dataset_view` sets their paths for one call).
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.dummy
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from types import SimpleNamespace

from covplan.worker_lifetime import die_with_parent

# The nnunetv2 modules covplan calls into that start pools.
POOL_MODULES = (
    "nnunetv2.experiment_planning.verify_dataset_integrity",
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
)


def _pool(method: str | None, processes: int) -> multiprocessing.pool.Pool:
    """A pool of ``processes`` workers that die with this process. One worker runs in a
    thread of this process: a spawned worker takes seconds to start (it imports torch and
    nnunetv2) and would run nothing in parallel (``-j 1``)."""
    if processes == 1:
        return multiprocessing.dummy.Pool(1)
    return multiprocessing.get_context(method).Pool(processes, initializer=die_with_parent)


def _get_context(method: str | None = None) -> SimpleNamespace:
    """``multiprocessing.get_context(method)`` as far as those modules use it: ``Pool(n)``,
    whose workers die with this process."""
    return SimpleNamespace(Pool=partial(_pool, method))


@contextmanager
def nnunet_pools_die_with_parent() -> Iterator[None]:
    """Within this context the workers of nnunetv2's pools in :data:`POOL_MODULES` end as
    soon as this process ends, however it ends."""
    modules = [importlib.import_module(name) for name in POOL_MODULES]
    saved = [module.multiprocessing for module in modules]
    try:
        for module in modules:
            module.multiprocessing = SimpleNamespace(get_context=_get_context)  # all they use of it
        yield
    finally:
        for module, original in zip(modules, saved):
            module.multiprocessing = original
