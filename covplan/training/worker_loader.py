"""nnU-Net's data loader as covplan's augmentation workers run it: tied to the trainer.

batchgenerators' ``NonDetMultiThreadedAugmenter`` forks workers that loop until the
trainer sets their abort event; a trainer that is killed never does, and they keep
running. Its one call into covplan's code in each new worker, before the first batch, is
the loader's ``set_thread_id``: that is where the worker is tied to the trainer, rather
than in a copy of batchgenerators' worker function.
"""

from __future__ import annotations

import signal

from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from covplan.worker_lifetime import die_with_parent


class WorkerDataLoader(nnUNetDataLoader):
    """:class:`nnUNetDataLoader` whose copy in each background worker ends with the trainer."""

    def set_thread_id(self, thread_id: int) -> None:
        die_with_parent()
        # A terminal's Ctrl-C reaches every process of its group; the trainer handles it and
        # stops its workers itself, and a worker that died of it first would make the trainer
        # report a worker failure instead of the interruption. SIGTERM (what the trainer's
        # clean-up sends a worker that does not stop in time) kills at once, instead of
        # running the trainer's handler that the fork copied (covplan.interruption).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        super().set_thread_id(thread_id)
