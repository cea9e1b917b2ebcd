"""The musicnn log-mel front end (the original extractor's recipe without librosa)."""
import time

import numpy as np
import pytest

from pipelines.tag.musicnn import frontend
from pipelines.tag.musicnn.frontend import (
    HOP,
    N_FFT,
    PATCH_FRAMES,
    SAMPLE_RATE,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_power,
    mel_to_hz,
    min_patch_seconds,
    min_samples,
    power_spectrogram,
    to_patches,
)


def _noise(n, scale=0.1, seed=0):
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


@pytest.mark.parametrize("n", [1, 255, 256, 257, 47_615, 47_616, 160_000])
def test_shape_and_frame_count(n):
    mel = log_mel(_noise(n))
    assert mel.shape == (1 + n // HOP, 96) == (frontend.n_frames(n), 96)
    assert mel.dtype == np.float32


def test_constants_and_min_samples():
    assert SAMPLE_RATE == 16000 and PATCH_FRAMES == 187
    assert log_mel(np.zeros(min_samples(), np.float32)).shape[0] == PATCH_FRAMES
    assert log_mel(np.zeros(min_samples() - 1, np.float32)).shape[0] == PATCH_FRAMES - 1
    assert min_patch_seconds() == pytest.approx(2.976)


def test_center_padding_is_zeros_not_reflection():
    x = _noise(4096, seed=1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    zero_pad = np.abs(np.fft.rfft(np.concatenate([np.zeros(256), x[:256]]) * window)) ** 2
    reflect = np.abs(np.fft.rfft(np.pad(x, 256, mode="reflect")[:N_FFT] * window)) ** 2
    first = power_spectrogram(x)[0]
    np.testing.assert_allclose(first, zero_pad, rtol=1e-4, atol=1e-7)
    assert not np.allclose(first, reflect, rtol=1e-2)
    # an interior frame is an ordinary windowed frame
    fifth = x[5 * HOP - 256:5 * HOP + 256]
    np.testing.assert_allclose(power_spectrogram(x)[5], np.abs(np.fft.rfft(fifth * window)) ** 2, rtol=1e-4, atol=1e-7)


def test_silence_is_zero():
    assert not log_mel(np.zeros(16000, np.float32)).any()


def test_loud_input_stays_finite():
    """NumPy 2 keeps 10000 * float16 in float16, which overflows: the recipe must cast first."""
    loud = np.sign(_noise(SAMPLE_RATE * 3, scale=1.0)).astype(np.float32)  # full-scale noise
    mel = log_mel(loud)
    assert np.isfinite(mel).all()
    raw = mel_power(loud).astype(np.float16)
    with np.errstate(over="ignore"):
        assert np.isinf(10000 * raw).any()  # the pitfall really is exercised by this input
    assert mel.max() == pytest.approx(np.log10(10000 * raw.astype(np.float32).max() + 1), rel=1e-6)


def test_float16_round_trip_then_log():
    x = _noise(16000, scale=0.3, seed=3)
    mel = mel_power(x)
    np.testing.assert_allclose(mel, power_spectrogram(x) @ mel_filterbank(), rtol=1e-5, atol=1e-9)
    expected = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    np.testing.assert_array_equal(log_mel(x), expected)


def test_slaney_mel_scale():
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(500.0) == pytest.approx(7.5)  # linear below 1 kHz
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)  # log step: 6.4x per 27 mels
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 4321.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)


def test_mel_filterbank_properties():
    fb = mel_filterbank()
    assert fb.shape == (N_FFT // 2 + 1, 96) and fb.dtype == np.float32
    assert (fb >= 0).all() and (fb.max(axis=0) > 0).all()
    assert fb[0].sum() == 0  # fmin 0: the first triangle starts (at zero weight) on DC
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 98))
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    for m in range(96):
        support = freqs[fb[:, m] > 0]
        assert support.min() > edges[m] and support.max() < edges[m + 2]  # triangle m spans edges m..m+2
        # Slaney area norm: peak 2 / width, so each triangle has unit area in Hz
        width = edges[m + 2] - edges[m]
        assert fb[:, m].max() <= 2 / width * (1 + 1e-6)
        if width > 10 * (freqs[1] - freqs[0]):  # wide enough for the Riemann sum to be accurate
            assert fb[:, m].sum() * (freqs[1] - freqs[0]) == pytest.approx(1.0, rel=0.02)
    peaks = fb.argmax(axis=0)
    assert (np.diff(peaks) >= 0).all()


def test_to_patches():
    mel = np.arange(600 * 96, dtype=np.float32).reshape(600, 96)
    patches = to_patches(mel)
    assert patches.shape == (3, 187, 96)  # 561 frames used, the 39-frame tail dropped
    np.testing.assert_array_equal(patches[2], mel[374:561])
    assert to_patches(mel[:186]).shape == (0, 187, 96)
    assert to_patches(mel[:187]).shape == (1, 187, 96)
    overlapping = to_patches(mel, n_frames=187, hop=100)
    assert overlapping.shape == (5, 187, 96)
    np.testing.assert_array_equal(overlapping[4], mel[400:587])


def test_ten_seconds_are_fast():
    x = _noise(SAMPLE_RATE * 10)
    log_mel(x)
    best = min(_timed(log_mel, x) for _ in range(5))
    assert best < 0.1, f"log_mel of 10 s took {best * 1e3:.1f} ms"  # ~1 ms when the machine is idle


def _timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started
