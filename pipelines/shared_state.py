"""Loading a model once per worker process and sharing it between threads and steps (Beam's Shared)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from apache_beam.utils.shared import Shared

log = logging.getLogger(__name__)


class _Holder:
    """Shared.acquire needs a weak-referenceable object; dicts and tuples of models are not."""

    def __init__(self, state):
        self.state = state


def acquire(shared: Shared, key: str, load: Callable[[], Any], threads: int | None = None, what: str = "model"):
    """The loaded state for `key`: built by `load()` the first time in this process, then reused.

    `threads` caps torch's intra-op threads so worker processes don't oversubscribe the cores.
    """
    return acquire_holder(shared, key, load, threads, what).state


def acquire_holder(shared: Shared, key: str, load: Callable[[], Any], threads: int | None = None,
                   what: str = "model") -> _Holder:
    """As `acquire`, but the holder itself (RunInference keeps it alive as its model object)."""
    def build():
        if threads:
            import torch

            torch.set_num_threads(threads)
        started = time.perf_counter()
        holder = _Holder(load())
        log.info("loaded %s in %.1f s", what, time.perf_counter() - started)
        return holder

    return shared.acquire(build, tag=key)
