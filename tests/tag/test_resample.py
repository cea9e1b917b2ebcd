"""resample_hq must reproduce librosa 0.11's load(sr=16000): soxr HQ + ceil-length fix."""
import math

import numpy as np
import pytest
import soxr

from pipelines.tag.resample import resample_hq, resampled_length


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


def test_identity_when_rates_match():
    x = _noise(1000)
    y = resample_hq(x, 16000, 16000)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("n, orig", [(441000, 44100), (480000, 48000), (1001, 44100), (22050, 22050 * 2),
                                     (7, 44100), (12345, 8000)])
def test_length_is_ceil_of_scaled_length(n, orig):
    y = resample_hq(_noise(n), orig, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == math.ceil(n * 16000 / orig) == resampled_length(n, orig, 16000)


@pytest.mark.parametrize("orig", [44100, 48000, 22050, 8000])
def test_samples_are_soxr_hq(orig):
    x = _noise(orig // 3, seed=orig)
    y = resample_hq(x, orig, 16000)
    direct = soxr.resample(x, orig, 16000, quality="HQ")
    n = min(len(y), len(direct))
    np.testing.assert_array_equal(y[:n], direct[:n])  # bit-identical where soxr has samples
    assert not y[len(direct):].any()  # any extension is zero padding


def test_sine_keeps_frequency_and_level():
    sr, f0 = 44100, 1000.0
    t = np.arange(sr) / sr
    y = resample_hq((0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), sr, 16000)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / 16000)[spectrum.argmax()] == pytest.approx(f0, abs=2)
    assert np.abs(y[1000:-1000]).max() == pytest.approx(0.5, abs=0.01)


def test_empty_and_bad_input():
    assert resample_hq(np.zeros(0, np.float32), 44100, 16000).shape == (0,)
    with pytest.raises(ValueError, match="1-D"):
        resample_hq(np.zeros((10, 2), np.float32), 44100, 16000)
    with pytest.raises(ValueError, match="positive"):
        resample_hq(np.zeros(10, np.float32), 0, 16000)
