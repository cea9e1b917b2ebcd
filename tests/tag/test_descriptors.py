"""Descriptors measured with Essentia on clips whose tempo and key are known (synthesised)."""
import numpy as np
import pytest

from pipelines.tag import descriptors
from pipelines.tag.descriptors_synth import key_name, key_relation, synth_clip, tempo_correct

SR = 16000


@pytest.mark.parametrize("bpm,tonic,mode", [(120, 9, "minor"), (100, 6, "major"), (90, 3, "minor")])
def test_tempo_and_key_of_a_synthesised_clip(bpm, tonic, mode):
    clip = synth_clip(bpm, tonic, mode, seconds=10, sr=SR, seed=1)
    result = descriptors.compute(clip, SR, ("tempo", "key"))
    assert result.errors == {}
    assert tempo_correct(result.values["bpm"], bpm)
    assert result.values["key"] == key_name(tonic, mode)  # sharps: "F# major", "D# minor"
    assert 0 < result.values["key_strength"] <= 1 and result.values["bpm_confidence"] > 0


def test_every_group_fills_its_fields():
    clip = synth_clip(110, 0, "major", seconds=8, sr=SR, seed=2)
    record = descriptors.compute(clip, SR).record()
    assert record["errors"] == []
    assert set(record) == set(descriptors.FIELDS) | {"errors"}
    assert all(record[f] is not None for f in descriptors.FIELDS)
    assert -30 < record["loudness_lufs"] < 0  # a -3 dBFS peak mix


def test_louder_is_more_lufs():
    clip = synth_clip(110, 0, "major", seconds=8, sr=SR, seed=3)
    quiet = descriptors.compute(clip * 0.1, SR, ("loudness",)).values["loudness_lufs"]
    loud = descriptors.compute(clip, SR, ("loudness",)).values["loudness_lufs"]
    assert loud - quiet == pytest.approx(20.0, abs=0.1)  # x0.1 in amplitude is -20 dB


def test_a_failing_descriptor_is_recorded_and_the_others_still_run():
    # a fifth of a second of silence: no tempo, no key, nothing above the loudness gate
    result = descriptors.compute(np.zeros(SR // 5, np.float32), SR, ("tempo", "key", "loudness", "dynamics"))
    assert set(result.errors) == {"tempo", "key", "loudness"}
    assert "outside 40-208" in result.errors["tempo"]
    record = result.record()
    assert record["bpm"] is None and record["dynamic_complexity"] == 0.0
    assert [e["descriptor"] for e in record["errors"]] == ["key", "loudness", "tempo"]


def test_only_requested_groups_are_computed():
    clip = synth_clip(120, 9, "minor", seconds=6, sr=SR)
    record = descriptors.compute(clip, SR, ("key",)).record()
    assert record["key"] == "A minor" and record["bpm"] is None and record["loudness_lufs"] is None


def test_parse_which():
    assert descriptors.parse_which("none") == ()
    assert descriptors.parse_which("all") == descriptors.DEFAULT
    assert descriptors.parse_which(None) == descriptors.DEFAULT
    assert descriptors.parse_which("key, tempo,key") == ("key", "tempo")
    with pytest.raises(ValueError, match="unknown descriptor.*'bpm'"):
        descriptors.parse_which("tempo,bpm")


def test_key_relations():
    assert key_relation("A minor", "A minor") == "same"
    assert key_relation("E minor", "A minor") == "fifth"
    assert key_relation("C major", "A minor") == "relative"
    assert key_relation("A major", "A minor") == "parallel"
    assert key_relation("F# major", "A minor") == "other"


def test_describe_step_keeps_a_clip_whose_descriptors_fail_and_drops_its_audio():
    from pipelines.io.manifest import ClipRequest
    from pipelines.tag.audio import DecodedAudio
    from pipelines.tag.backends.base import Prepared
    from pipelines.tag.descriptors_step import _Measure

    clip = ClipRequest.__new__(ClipRequest)
    audio = DecodedAudio(samples=np.zeros(SR // 5, np.float32), sample_rate=SR, source_sample_rate=SR,
                         source_channels=1, duration_s=0.2, decoder="soundfile")
    prepared = Prepared(clip, features=[1], audio=audio)
    (out,) = list(_Measure(("tempo", "dynamics")).process(prepared))
    assert out.audio is None and out.features == [1]
    record = out.extra["descriptors"]
    assert record["bpm"] is None and record["dynamic_complexity"] == 0.0
    assert [e["descriptor"] for e in record["errors"]] == ["tempo"]
    # a later block of a long clip carries no audio: it passes through unmeasured
    later = Prepared(clip, features=[2], block=1)
    (same,) = list(_Measure(("tempo",)).process(later))
    assert same is later and "descriptors" not in same.extra
