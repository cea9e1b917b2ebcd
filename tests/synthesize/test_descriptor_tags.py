"""Measured tempo and key become tags of their own categories, selected like any tag and written in texts."""
import glob
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_OK, main
from pipelines.io.schemas import DESCRIPTORS_STRUCT, TAG_STRUCT
from pipelines.synthesize.descriptor_tags import (
    DescriptorTagError,
    descriptor_tags,
    normalize_key,
    prompt_text,
    surface,
    tempo_tag,
)
from pipelines.synthesize.select import TagSelection, select_tags
from pipelines.synthesize.tagset import InputTag


def test_tempo_ranges_from_the_data_file():
    assert [tempo_tag(b) for b in (60, 75.9, 76, 119, 120, 180)] == [
        "slow tempo", "slow tempo", "medium tempo", "medium tempo", "fast tempo", "fast tempo"]


@pytest.mark.parametrize("text,key", [("A minor", "A minor"), ("a min", "A minor"), ("Am", "A minor"),
                                      ("Bb major", "A# major"), ("C#", "C# major"), ("Ebm", "D# minor")])
def test_keys_are_normalised_with_sharps(text, key):
    assert normalize_key(text) == key


def test_from_our_descriptors_struct_and_from_user_columns():
    ours = descriptor_tags({"descriptors": {"bpm": 92.4, "bpm_confidence": 2.66, "key": "A minor",
                                            "key_strength": 0.8}})
    assert ours == [InputTag("medium tempo", "tempo", pytest.approx(0.5), value="92 BPM"),
                    InputTag("A minor", "key", pytest.approx(0.8))]
    user = descriptor_tags({"bpm": "140", "key": "Eb"})  # a CSV's columns, no confidences: taken as certain
    assert user == [InputTag("fast tempo", "tempo", 1.0, value="140 BPM"), InputTag("D# major", "key", 1.0)]
    assert descriptor_tags({"descriptors": None}) == [] and descriptor_tags({"bpm": "", "key": None}) == []
    failed = {"descriptors": {"bpm": None, "key": "G major", "key_strength": 0.6, "errors": [{"descriptor": "tempo"}]}}
    assert [t.tag for t in descriptor_tags(failed)] == ["G major"]


@pytest.mark.parametrize("row,message", [({"bpm": "fast"}, "bpm is not a number"), ({"bpm": -3}, "beats per minute"),
                                         ({"key": "H major"}, "not a key")])
def test_bad_values_say_what_is_wrong(row, message):
    with pytest.raises(DescriptorTagError, match=message):
        descriptor_tags(row)


def test_selection_has_their_own_top_k_and_thresholds():
    tags = [InputTag("rock", "genre", 0.8), InputTag("medium tempo", "tempo", 0.25, "92 BPM"),
            InputTag("slow tempo", "tempo", 0.9, "70 BPM"), InputTag("A minor", "key", 0.5)]
    chosen, _ = select_tags(tags, TagSelection())
    assert [t.tag for t in chosen] == ["rock", "slow tempo", "A minor"]  # 0.25 < tempo's 0.3; one tempo tag
    weak_key = [InputTag("rock", "genre", 0.8), InputTag("A minor", "key", 0.35)]
    assert [t.tag for t in select_tags(weak_key, TagSelection())[0]] == ["rock"]
    lenient = TagSelection(category_threshold=TagSelection.parse_category_threshold("key=0.3"))
    assert [t.tag for t in select_tags(weak_key, lenient)[0]] == ["rock", "A minor"]
    with pytest.raises(ValueError, match="--category-threshold"):
        TagSelection.parse_category_threshold("key=high")


def test_surface_forms_carry_the_number():
    tag = InputTag("medium tempo", "tempo", 0.6, value="92 BPM")
    forms = {surface(tag, random.Random(s)) for s in range(30)}
    assert forms == {"medium tempo of 92 BPM", "medium tempo of about 92 BPM", "medium tempo of 92 beats per minute"}
    assert prompt_text(tag) == "medium tempo (92 BPM)" and prompt_text(InputTag("A minor", "key")) == "A minor"


def _tagged_parquet(path):
    tags = [{"tag": "rock", "category": "genre", "confidence": 0.8},
            {"tag": "electric guitar", "category": "instrument", "confidence": 0.5},
            {"tag": "energetic", "category": "mood", "confidence": 0.4}]
    descriptors = {"bpm": 92.3, "bpm_confidence": 3.5, "key": "A minor", "key_strength": 0.8, "loudness_lufs": -12.0,
                   "loudness_range_lu": 2.0, "danceability": 1.1, "dynamic_complexity": 2.0, "onset_rate": 3.0,
                   "errors": []}
    table = pa.table({"music_id": ["m1", "m2"], "video_id": ["v1", None],
                      "tags": pa.array([tags, tags], pa.list_(TAG_STRUCT)),
                      "descriptors": pa.array([descriptors, None], DESCRIPTORS_STRUCT)})
    pq.write_table(table, path)


def test_synthesize_writes_tempo_and_key(tmp_path):
    _tagged_parquet(tmp_path / "tags-00000-of-00001.parquet")
    user = tmp_path / "user.csv"
    user.write_text('music_id,tags,bpm,key\nu1,"rock, piano",68,F# major\nu2,"jazz",abc,\n')
    out = tmp_path / "out"
    for source in (str(tmp_path / "tags-*.parquet"), str(user)):
        assert main(["synthesize", "--log-level", "WARNING", "--input", source, "--out", str(out / source[-5:]),
                     "--methods", "tags,data2text", "--samples-per-track", "3"]) == EXIT_OK
    rows = [r for f in sorted(glob.glob(f"{out}/*/triplets-*.parquet")) for r in pq.read_table(f).to_pylist()]
    m1 = [r for r in rows if r["music_id"] == "m1"]
    assert {(t["tag"], t["category"]) for t in m1[0]["tags"]} >= {("medium tempo", "tempo"), ("A minor", "key")}
    for r in (r for r in m1 if r["method"] == "data2text"):
        assert "medium tempo of" in r["text"] and "92" in r["text"] and "A minor" in r["text"], r["text"]
        assert r["metadata"]["fidelity"]["coverage"] == 1.0 and r["metadata"]["fidelity"]["hallucinated"] == []
    m2 = [r for r in rows if r["music_id"] == "m2"]  # no descriptors: no tempo or key tags
    assert not {t["category"] for t in m2[0]["tags"]} & {"tempo", "key"}
    u1 = [r for r in rows if r["music_id"] == "u1" and r["method"] == "data2text"]
    assert {(t["tag"], t["category"]) for t in u1[0]["tags"]} >= {("slow tempo", "tempo"), ("F# major", "key")}
    assert all("68" in r["text"] and "F# major" in r["text"] for r in u1)
    errors = [r for f in glob.glob(f"{out}/*/errors-*.parquet") for r in pq.read_table(f).to_pylist()]
    assert [(e["id"], e["error_type"]) for e in errors] == [("u2", "bad_descriptors")]
    assert "bpm is not a number: 'abc'" in errors[0]["message"]


def test_fidelity_reads_a_key_as_no_keyboard():
    from pipelines.synthesize.fidelity import fidelity
    from pipelines.tag.vocabulary import Vocabulary

    vocabulary = Vocabulary.load()
    ok = fidelity("The music is written in the key of A minor. The key is A minor.", [InputTag("A minor", "key")],
                  vocabulary)
    assert ok.hallucinated == [] and ok.coverage == 1.0
    keys = fidelity("It is in the key of A minor, with keys.", [InputTag("A minor", "key")], vocabulary)
    assert keys.hallucinated == ["piano"]  # "keys" alone still names the keyboard


def test_a_measured_tempo_replaces_the_taggers_guess():
    tags = [InputTag("rock", "genre", 0.8), InputTag("slow", "mood", 0.4), InputTag("calm", "mood", 0.3),
            InputTag("medium tempo", "tempo", 0.6, "95 BPM")]
    assert [t.tag for t in select_tags(tags, TagSelection())[0]] == ["rock", "calm", "medium tempo"]
    unsure = tags[:3] + [InputTag("medium tempo", "tempo", 0.1, "95 BPM")]  # below its threshold: the guess stays
    assert [t.tag for t in select_tags(unsure, TagSelection())[0]] == ["rock", "slow", "calm"]
