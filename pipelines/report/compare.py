"""Two runs side by side (e.g. two prompt versions or two seeds) on the tracks they share."""
from __future__ import annotations

import difflib

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report import read
from pipelines.report.aggregate import aggregate_run

PAIR_TRACKS = 2_000  # tracks (a seeded sample of the shared ones) searched for the most different texts
PAIRS_SHOWN = 5  # per method


def _keys(folder: str) -> pa.Array:
    seen = set()
    for t in read.batches(read.files(folder, "triplets"), ["music_id", "video_id"]):
        seen.update(pc.unique(read.track_keys(t)).to_pylist())
    return pa.array(sorted(seen), pa.string())


def shared_tracks(a: str, b: str) -> tuple[pa.Array, int, int]:
    """(keys of the tracks both runs have texts for, tracks of a, tracks of b)."""
    keys_a, keys_b = _keys(a), _keys(b)
    return keys_a.filter(pc.is_in(keys_a, value_set=keys_b)), len(keys_a), len(keys_b)


def text_difference(x: str, y: str) -> float:
    """1 - the similarity of the two texts' word sequences (difflib's ratio: matching words / all words)."""
    return 1.0 - difflib.SequenceMatcher(None, (x or "").split(), (y or "").split(), autojunk=False).ratio()


def _texts(folder: str, keys: pa.Array) -> dict[tuple, dict]:
    """(track key, method, sample) -> {text, tags} for the given tracks."""
    out = {}
    ids = pa.array(sorted({read.key_parts(k)[0] for k in keys.to_pylist()}), pa.string())
    for t in read.batches(read.files(folder, "triplets"), ["music_id", "video_id", "method", "sample", "text", "tags"]):
        t = t.filter(pc.is_in(t["music_id"], value_set=ids))
        t_keys = read.track_keys(t)
        keep = pc.is_in(t_keys, value_set=keys)
        for key, row in zip(t_keys.filter(keep).to_pylist(), t.filter(keep).to_pylist(), strict=True):
            out[(key, row["method"], row["sample"])] = {"text": row["text"], "tags": row["tags"] or []}
    return out


def most_different_pairs(a: str, b: str, shared: pa.Array, seed: int = 0) -> dict[str, list[dict]]:
    """Per method, the text pairs (same track and sample) that differ most, among a seeded sample of tracks."""
    sample = read.BottomK(PAIR_TRACKS, seed)
    for key in shared.to_pylist():
        sample.offer(key)
    keys = pa.array([k for k, _ in sample.items()], pa.string())
    if not len(keys):
        return {}
    texts_a, texts_b = _texts(a, keys), _texts(b, keys)
    by_method: dict[str, list[dict]] = {}
    for ident in sorted(set(texts_a) & set(texts_b)):
        key, method, sample_no = ident
        ta, tb = texts_a[ident], texts_b[ident]
        music_id, video_id = read.key_parts(key)
        by_method.setdefault(method, []).append({
            "music_id": music_id, "video_id": video_id, "sample": sample_no,
            "difference": round(text_difference(ta["text"], tb["text"]), 3),
            "text_a": ta["text"], "text_b": tb["text"], "tags_a": ta["tags"], "tags_b": tb["tags"]})
    return {m: sorted(pairs, key=lambda p: -p["difference"])[:PAIRS_SHOWN] for m, pairs in by_method.items()}


def compare_runs(a: str, b: str, *, seed: int = 0, **options) -> dict:
    shared, n_a, n_b = shared_tracks(a, b)
    if not len(shared):
        raise ValueError(f"--compare: the runs share no track ({n_a} tracks in {a}, {n_b} in {b})")
    return {
        "shared_tracks": len(shared), "tracks_a": n_a, "tracks_b": n_b,
        "a": aggregate_run(a, seed=seed, only_tracks=shared, **options),
        "b": aggregate_run(b, seed=seed, only_tracks=shared, **options),
        "pairs": most_different_pairs(a, b, shared, seed),
    }
