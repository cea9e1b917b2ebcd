"""Random draws made faster without changing them (the pinned outputs depend on every draw)."""
from __future__ import annotations

import random


def shuffle(items: list, rng: random.Random) -> None:
    """``rng.shuffle(items)``: the same draws from `rng` and the same order.

    Random.shuffle calls Random._randbelow (a Python method) once per item; a data2text bank shuffles its
    candidate templates ~8 times a row, the `tags` method each row's tags. For a plain ``random.Random``
    this is its shuffle with _randbelow's loop written inline (tests compare both); subclasses, which may
    draw differently, use their own."""
    if type(rng) is not random.Random:
        rng.shuffle(items)
        return
    getrandbits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        items[i], items[j] = items[j], items[i]
