"""Musical descriptors measured from a track's decoded samples with Essentia: tempo, key, loudness, ...

    result = compute(samples, sample_rate, which=("tempo", "key"))
    result.values   # {"bpm": 92.1, "bpm_confidence": 3.1, "key": "A minor", "key_strength": 0.81, ...}
    result.errors   # {"loudness": "..."}: one failing descriptor never stops the others

A pure function over samples: the tag pipeline calls it on the audio the tagger already decoded (no
second decode). Essentia's DSP algorithms are used as they are (no models, nothing downloaded); the
algorithm choices, and why, are next to each group below. Accuracy on clips with a known tempo and key:
bench/descriptors_accuracy.py (figures in the README).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

# RhythmExtractor2013 and OnsetRate are tuned for (and OnsetRate only accepts) 44.1 kHz: their input is
# resampled to it; every other algorithm takes the decoded rate as its `sampleRate` parameter.
RHYTHM_SR = 44100
# Essentia names keys with flats for some pitch classes; outputs use sharps only ("A# minor").
_SHARP = {"Bb": "A#", "Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#"}
# Key profile: a general-music one (bgate/edma are Essentia's profiles for electronic dance music); all four
# compared in bench/descriptors_accuracy.py score alike on its synthetic clips.
KEY_PROFILE = "temperley"
MIN_BPM, MAX_BPM = 40, 208  # RhythmExtractor2013's own default range
ABSOLUTE_GATE_LUFS = -70.0


class DescriptorError(ValueError):
    reason = "bad_descriptors"


@dataclass
class Descriptors:
    """Measured values by field name; `errors` maps a failed group to its reason."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The `descriptors` struct of tags-*.parquet (fields not computed are null)."""
        out = {name: self.values.get(name) for name in FIELDS}
        out["errors"] = [{"descriptor": k, "message": v} for k, v in sorted(self.errors.items())]
        return out


def _essentia():
    import essentia

    # silenced before essentia.standard is imported: that import already logs an INFO line
    # ("MusicExtractorSVM: no classifier models ..."), and every algorithm instance another
    essentia.log.infoActive = False
    essentia.log.warningActive = False
    import essentia.standard as es

    return es


def _at_rhythm_rate(samples: np.ndarray, sr: int) -> np.ndarray:
    from pipelines.tag.resample import resample_hq

    return resample_hq(samples, sr, RHYTHM_SR)


def _tempo(samples, sr, cache) -> dict:
    # multifeature: the method with a confidence (0-5.32; above ~3.5 the beat tracker agrees with
    # itself almost always, per Essentia's docs); degara gives none.
    bpm, _beats, confidence, _, _ = _essentia().RhythmExtractor2013(
        method="multifeature", minTempo=MIN_BPM, maxTempo=MAX_BPM)(cache.rhythm(samples, sr))
    # on audio with no beats (a fraction of a second, silence) it returns values outside its own range
    if not np.isfinite(bpm) or not MIN_BPM <= bpm <= MAX_BPM:
        raise DescriptorError(f"no tempo found (estimate {bpm:.1f} BPM is outside {MIN_BPM}-{MAX_BPM})")
    return {"bpm": float(bpm), "bpm_confidence": float(confidence)}


def _key(samples, sr, cache) -> dict:
    key, scale, strength = _essentia().KeyExtractor(sampleRate=float(sr), profileType=cache.key_profile)(samples)
    if not key or not strength > 0:
        raise DescriptorError("no key found (no tonal content)")
    return {"key": f"{_SHARP.get(key, key)} {scale}", "key_strength": float(strength)}


def _loudness(samples, sr, cache) -> dict:
    # EBU R128 wants stereo: the mono mix on both channels measures a centre-panned track as its stereo
    # original would (identical channels are what the mix of such a track is).
    es = _essentia()
    _m, _s, integrated, loudness_range = es.LoudnessEBUR128(sampleRate=float(sr))(es.StereoMuxer()(samples, samples))
    if not np.isfinite(integrated) or integrated <= ABSOLUTE_GATE_LUFS:
        raise DescriptorError(f"no loudness: everything is below the EBU R128 gate of {ABSOLUTE_GATE_LUFS} LUFS")
    return {"loudness_lufs": float(integrated), "loudness_range_lu": float(loudness_range)}


def _danceability(samples, sr, cache) -> dict:
    value, _dfa = _essentia().Danceability(sampleRate=float(sr))(samples)
    return {"danceability": float(value)}


def _dynamics(samples, sr, cache) -> dict:
    complexity, _loudness = _essentia().DynamicComplexity(sampleRate=float(sr))(samples)
    return {"dynamic_complexity": float(complexity)}


def _onsets(samples, sr, cache) -> dict:
    _onset_times, rate = _essentia().OnsetRate()(cache.rhythm(samples, sr))
    return {"onset_rate": float(rate)}


class _Cache:
    """Options and the 44.1 kHz copy (made once for whichever groups need it) shared by the groups."""

    def __init__(self, key_profile: str = KEY_PROFILE):
        self.key_profile = key_profile
        self._rhythm = None

    def rhythm(self, samples, sr):
        if self._rhythm is None:
            self._rhythm = _at_rhythm_rate(samples, sr)
        return self._rhythm


# group -> (function, fields it fills); a group fails or succeeds as a whole
GROUPS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "tempo": (_tempo, ("bpm", "bpm_confidence")),
    "key": (_key, ("key", "key_strength")),
    "loudness": (_loudness, ("loudness_lufs", "loudness_range_lu")),
    "danceability": (_danceability, ("danceability",)),
    "dynamics": (_dynamics, ("dynamic_complexity",)),
    "onsets": (_onsets, ("onset_rate",)),
}
FIELDS: tuple[str, ...] = tuple(f for _, fields in GROUPS.values() for f in fields)
DEFAULT: tuple[str, ...] = tuple(GROUPS)  # all of them: together about 0.1 s per 10 s of audio


def parse_which(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """`--descriptors`: "none", "all"/None (every group) or a comma list of group names."""
    if spec is None:
        return DEFAULT
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if str(s).strip()]
    if names in (["all"], []):
        return DEFAULT if names else ()
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise ValueError(f"unknown descriptor(s) {unknown}: choose from {', '.join(GROUPS)}, or none / all")
    return tuple(dict.fromkeys(names))


def compute(samples: np.ndarray, sample_rate: int, which: Iterable[str] = DEFAULT,
            key_profile: str = KEY_PROFILE) -> Descriptors:
    """Each requested group on mono float32 `samples`; a group that raises is recorded in `errors`."""
    out = Descriptors()
    x = np.ascontiguousarray(samples, dtype=np.float32)
    cache = _Cache(key_profile)
    for name in which:
        fn, _fields = GROUPS[name]
        try:
            out.values.update(fn(x, int(sample_rate), cache))
        except Exception as exc:  # one descriptor's failure is recorded, the others still run
            out.errors[name] = f"{type(exc).__name__}: {exc}"
    return out
