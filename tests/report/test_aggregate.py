"""The report's numbers against counts made by hand on the fixture of conftest.py."""
import shutil

import pyarrow as pa
import pytest
from report_fixtures import TEXTS, write_run, write_tags

from pipelines.report import read
from pipelines.report.aggregate import aggregate_run
from pipelines.report.compare import compare_runs, text_difference
from pipelines.report.tagger import aggregate_tags


def test_tags_per_track_and_category(run_dir):
    run = aggregate_run(str(run_dir))
    assert run["methods"] == ["tags", "data2text"] and run["reference_method"] == "tags"
    assert run["tracks"] == 3
    assert run["tags"]["by_category"] == {"genre": [("rock", 2), ("jazz", 1)],
                                          "instrument": [("piano", 2), ("guitar", 1)],
                                          "mood": [("calm", 2)]}
    assert run["tags"]["per_track"] == {"2": 1, "3": 2}
    assert run["tags"]["selection_fallbacks"] == 1


def test_texts_per_method(run_dir):
    texts = aggregate_run(str(run_dir))["texts"]
    tags, d2t = texts["tags"], texts["data2text"]
    # words: "rock, piano, calm" 3, "guitar, rock" 2, "jazz, calm, piano" 3
    assert (tags["texts"], tags["length"], tags["mean_length"]) == (3, {"2": 1, "3": 2}, pytest.approx(8 / 3, abs=1e-3))
    assert (d2t["texts"], d2t["length"], d2t["mean_length"]) == (3, {"6": 1, "7": 1, "8": 1}, 7.0)
    # vocabulary: rock piano calm guitar jazz; bigrams rock-piano piano-calm guitar-rock jazz-calm calm-piano
    assert (tags["vocab_size"], tags["distinct1"], tags["distinct2"]) == (5, 5 / 8, 1.0)
    # 13 distinct of 21 words; 18 bigrams, "song with" twice
    assert d2t["vocab_size"] == 13
    assert d2t["distinct1"] == pytest.approx(13 / 21) and d2t["distinct2"] == pytest.approx(17 / 18)
    assert d2t["diversity_sample"] == 3
    # coverage 1, 1, 1/3: bins [0.3, 0.4) and [0.9, 1.0]
    assert d2t["coverage"]["counts"] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 2]
    assert d2t["mean_coverage"] == pytest.approx(7 / 9, abs=1e-4)
    assert tags["coverage"]["counts"] == [0] * 9 + [3]
    assert d2t["hallucinations_per_text"] == {"0": 1, "1": 1, "2": 1}
    assert d2t["share_with_hallucination"] == pytest.approx(2 / 3, abs=1e-4)
    assert d2t["top_hallucinated"] == [("acoustic drumset", 2), ("male vocals", 1)]
    assert (tags["hallucinations_per_text"], tags["share_with_hallucination"]) == ({"0": 3}, 0.0)


def test_errors_and_summary(run_dir):
    run = aggregate_run(str(run_dir))
    errors = run["errors"]
    assert errors["total"] == 3
    assert [(e["stage"], e["error_type"], e["count"]) for e in errors["by_kind"]] == [
        ("data2text", "template_error", 2), ("input", "malformed_row", 1)]
    assert errors["by_kind"][0]["examples"][0] == {"id": "d", "message": "template_error of d"}
    assert run["summary"]["counts"]["tracks"] == 3


def test_examples_are_a_seeded_sample_with_every_method(run_dir):
    two = aggregate_run(str(run_dir), examples=2, seed=5)["examples"]
    assert len(two) == 2
    assert aggregate_run(str(run_dir), examples=2, seed=5)["examples"] == two  # same seed, same tracks
    every = aggregate_run(str(run_dir), examples=10)["examples"]
    assert sorted(e["music_id"] for e in every) == ["a", "b", "c"]
    for ex in every:
        assert ex["texts"] == {m: [TEXTS[m][ex["music_id"]][0]] for m in ("tags", "data2text")}
        assert ex["video_id"] == {"a": "v1", "b": None, "c": "v3"}[ex["music_id"]]
        assert [t["tag"] for t in ex["tags"]][0] in ("rock", "jazz")


def test_bottom_k_does_not_depend_on_order():
    keys = [f"track{i}" for i in range(200)]
    a, b = read.BottomK(7, seed=3), read.BottomK(7, seed=3)
    for k in keys:
        a.offer(k)
    for k in reversed(keys):
        b.offer(k)
    assert a.items() == b.items() and len(a.items()) == 7
    assert [k for k, _ in a.items()] == sorted(keys, key=lambda k: read.seeded_rank(3, k))[:7]


def test_restricted_to_some_tracks(run_dir):
    run = aggregate_run(str(run_dir), only_tracks=pa.array([f"a{read.KEY_SEP}v1", f"c{read.KEY_SEP}v3"]))
    assert run["tracks"] == 2
    assert run["tags"]["by_category"]["genre"] == [("rock", 1), ("jazz", 1)]
    assert run["texts"]["data2text"]["length"] == {"6": 1, "8": 1}


def test_compare_on_shared_tracks(run_dir, tmp_path):
    other = {m: dict(rows) for m, rows in TEXTS.items()}
    for rows in other.values():
        del rows["b"]  # run B lacks track b
    other["data2text"]["c"] = ("A jazz song with piano", 2 / 3, [])
    b_dir = write_run(tmp_path / "b", other)
    result = compare_runs(str(run_dir), str(b_dir), examples=5)
    assert (result["shared_tracks"], result["tracks_a"], result["tracks_b"]) == (2, 3, 2)
    assert result["a"]["tracks"] == result["b"]["tracks"] == 2
    assert result["a"]["texts"]["data2text"]["mean_coverage"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["b"]["texts"]["data2text"]["mean_coverage"] == pytest.approx(5 / 6, abs=1e-4)
    top = result["pairs"]["data2text"][0]
    assert (top["music_id"], top["text_b"]) == ("c", "A jazz song with piano")
    assert top["difference"] == pytest.approx(5 / 13, abs=1e-3)  # 4 of 8 + 5 words match: 1 - 2 * 4 / 13
    assert all(p["difference"] == 0 for p in result["pairs"]["tags"])


def test_compare_without_shared_tracks_is_a_clear_error(run_dir, tmp_path):
    b_dir = write_run(tmp_path / "b", {"tags": {"a": ("x", 1.0, [])}})
    shutil.rmtree(run_dir)
    write_run(run_dir, {"tags": {"b": ("y", 1.0, [])}})
    with pytest.raises(ValueError, match="share no track"):
        compare_runs(str(run_dir), str(b_dir))


def test_text_difference():
    assert text_difference("a b c", "a b c") == 0.0
    assert text_difference("a b", "c d") == 1.0
    assert text_difference("a jazz song with male vocals and drums", "a jazz song with piano") == pytest.approx(5 / 13)


@pytest.mark.parametrize("descriptors", [True, False])
def test_tagger_confidence_and_descriptors(tmp_path, descriptors):
    tags = aggregate_tags(str(write_tags(tmp_path / "tags", descriptors)))
    assert tags["clips"] == 3 and tags["taggers"] == {"musicnn": 3}
    # top genre per clip: 0.92, 0.62, 0.52; top mood: 0.42, 0.82, 0.02 (bins of 0.05)
    genre = tags["top1_confidence"]["genre"]["counts"]
    assert {i: n for i, n in enumerate(genre) if n} == {10: 1, 12: 1, 18: 1}
    mood = tags["top1_confidence"]["mood"]["counts"]
    assert {i: n for i, n in enumerate(mood) if n} == {0: 1, 8: 1, 16: 1}
    assert [(t, round(v, 2)) for t, v in tags["mean_confidence"]["genre"]] == [("rock", 0.55), ("jazz", 0.25)]
    if not descriptors:
        assert tags["descriptors"] is None
        return
    d = tags["descriptors"]
    assert d["clips_with"] == {"bpm": 2, "bpm_confidence": 2, "key_strength": 2, "loudness_lufs": 2,
                               "danceability": 2, "key": 2}
    assert d["keys"] == [("A minor", 1), ("C major", 1)]
    assert d["histograms"]["bpm"]["mean"] == 105.0 and sum(d["histograms"]["bpm"]["counts"]) == 2
    assert d["histograms"]["loudness_lufs"]["mean"] == -17.0
