"""Resampling that matches ``librosa.load(path, sr=...)`` in librosa 0.11 without librosa.

librosa 0.11 resamples with soxr at 'HQ' quality and then fixes the length to
``ceil(n * target / orig)``. Taggers trained on librosa-loaded audio are sensitive to the
resampler (another filter moved musicnn clip probabilities by up to 0.05), so match it exactly.
"""
from __future__ import annotations

import math

import numpy as np
import soxr


def resampled_length(n_samples: int, orig_sr: int, target_sr: int) -> int:
    """Output length librosa uses: the input length scaled by the rate ratio, rounded up."""
    return int(math.ceil(n_samples * target_sr / orig_sr))


def resample_hq(mono: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D float32 signal with soxr HQ, padded with zeros / trimmed like librosa."""
    x = np.asarray(mono, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"resample_hq expects a 1-D mono signal, got shape {x.shape}")
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return x
    n_out = resampled_length(x.shape[0], orig_sr, target_sr)
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    y = np.asarray(soxr.resample(x, orig_sr, target_sr, quality="HQ"), dtype=np.float32)
    if y.shape[0] >= n_out:
        return np.ascontiguousarray(y[:n_out])
    return np.pad(y, (0, n_out - y.shape[0]))


class StreamResampler:
    """`resample_hq` over a signal that arrives in blocks, with the same output samples.

    soxr's streaming resampler gives exactly the samples of its one-shot call (checked in
    tests/tag/test_resample.py); `flush()` applies librosa's length fix once the input length is known.
    """

    def __init__(self, orig_sr: int, target_sr: int):
        if orig_sr <= 0 or target_sr <= 0:
            raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
        self.orig_sr, self.target_sr = orig_sr, target_sr
        self.n_in = self.n_out = 0
        self._stream = None if orig_sr == target_sr else soxr.ResampleStream(
            orig_sr, target_sr, 1, dtype="float32", quality="HQ")

    def feed(self, mono: np.ndarray) -> np.ndarray:
        x = np.asarray(mono, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"StreamResampler expects 1-D mono blocks, got shape {x.shape}")
        self.n_in += len(x)
        y = x if self._stream is None else np.asarray(self._stream.resample_chunk(x, last=False), np.float32)
        self.n_out += len(y)
        return y

    def flush(self) -> np.ndarray:
        """The remaining samples, padded with zeros / trimmed to librosa's length."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        tail = np.asarray(self._stream.resample_chunk(np.zeros(0, np.float32), last=True), np.float32)
        want = resampled_length(self.n_in, self.orig_sr, self.target_sr) - self.n_out
        if want <= 0:
            return np.zeros(0, np.float32)
        self.n_out += want
        return np.ascontiguousarray(tail[:want]) if len(tail) >= want else np.pad(tail, (0, want - len(tail)))
