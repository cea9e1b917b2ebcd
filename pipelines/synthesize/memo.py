"""A bounded per-instance memo for pure one-argument methods.

Synthesis asks the same questions about the same few thousand tag strings on every row ("is 'groovy
bass' plural?", "what are the words of 'male vocal'?"). functools.lru_cache on a method keys on `self`,
which needs a hashable instance and keeps every instance alive in one global table; the lexicon and
grammar are mutable dataclasses, so each keeps its own table instead, emptied when full so that an
endless stream of free-form tags cannot grow it without bound.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

MAX_ENTRIES = 1 << 16


def memoized(method: Callable) -> Callable:
    """Cache `method(self, arg)` per instance and argument; the result must not be mutated by callers."""
    slot = f"_memo_{method.__name__}"

    @functools.wraps(method)
    def cached(self, arg):
        table = self.__dict__.get(slot)
        if table is None:
            table = self.__dict__[slot] = {}
        try:
            return table[arg]
        except KeyError:
            pass
        if len(table) >= MAX_ENTRIES:
            table.clear()
        value = table[arg] = method(self, arg)
        return value

    return cached
