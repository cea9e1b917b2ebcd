"""Trainer-free checks that the benchmark has the structure it claims (numpy only, a second or two).

1. Linear probes (ridge regression onto one-hot / multi-hot attributes, fit on train, scored on test) from
   mean-pooled video, music and text features: top-1 hit rate per category (the top-scored genre is the
   track's genre; the top-scored mood / instrument is one of the track's) against the majority baseline
   (always the most frequent tag in train). Video should recover mood well, genre above chance and
   instruments only at chance; music everything.
2. Text neighbourhoods: a test track's human text is closer (cosine) to synthesized texts of tracks with
   the same genre than of other tracks, and retrieves its own track's ``tags`` text far above chance.
3. Linear retrieval baselines: ridge from [video] and from [video; text] onto the mean music feature,
   tracks ranked by cosine in the test pool (R@K, median rank, chance), so that video+text > video only
   >> chance holds before any trainer is involved.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

CATS = ("genre", "mood", "instrument")


def _pooled(path: Path, key: str) -> dict[str, np.ndarray]:
    table = pq.read_table(path)
    ids = table.column(key).to_pylist()
    seqs = table.column("features").to_pylist()
    return {i: np.asarray(s, np.float64).mean(axis=0) for i, s in zip(ids, seqs, strict=True)}


def load(out_dir) -> dict:
    out = Path(out_dir)
    feats = out / "features"
    video = {}
    for p in sorted(feats.glob("video-*.parquet")):
        video.update(_pooled(p, "video_id"))
    music = {}
    for p in sorted(feats.glob("music-*.parquet")):
        music.update(_pooled(p, "music_id"))
    text = {}
    for p in sorted(feats.glob("text-*.parquet")):
        t = pq.read_table(p)
        vectors = np.asarray(t.column("features").to_pylist(), np.float64)
        text.update(zip(t.column("text").to_pylist(), vectors, strict=True))
    tracks = pq.read_table(out / "tracks.parquet").to_pylist()
    videos = pq.read_table(out / "videos.parquet").to_pylist()
    triplets = {}
    for split in ("train", "test", "test_tags"):
        files = sorted((out / split).glob("triplets-*.parquet"))
        triplets[split] = [r for f in files for r in
                           pq.read_table(f, columns=["video_id", "music_id", "method", "text"]).to_pylist()]
    return {"video": video, "music": music, "text": text, "tracks": tracks, "videos": videos,
            "triplets": triplets}


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 0.01, weights: np.ndarray | None = None):
    """(Weighted) ridge on standardized inputs, penalty alpha * total weight; returns predict(x_new)."""
    wts = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    total = wts.sum()
    mx = (wts[:, None] * x).sum(0) / total
    sx = np.sqrt((wts[:, None] * (x - mx) ** 2).sum(0) / total) + 1e-8
    my = (wts[:, None] * y).sum(0) / total
    xs = (x - mx) / sx
    w = np.linalg.solve(xs.T @ (wts[:, None] * xs) + alpha * total * np.eye(xs.shape[1]),
                        xs.T @ (wts[:, None] * (y - my)))
    return lambda z: ((z - mx) / sx) @ w + my


def _targets(tracks: list[dict]) -> dict[str, tuple[list[str], np.ndarray]]:
    out = {}
    for cat, key in (("genre", "genre"), ("mood", "moods"), ("instrument", "instruments")):
        names = sorted({n for t in tracks for n in ([t[key]] if cat == "genre" else t[key])})
        idx = {n: i for i, n in enumerate(names)}
        y = np.zeros((len(tracks), len(names)))
        for r, t in enumerate(tracks):
            for n in ([t[key]] if cat == "genre" else t[key]):
                y[r, idx[n]] = 1.0
        out[cat] = (names, y)
    return out


def _top1(scores: np.ndarray, y: np.ndarray) -> float:
    return float(y[np.arange(len(y)), scores.argmax(1)].mean())


def probes(data: dict, alpha: float = 0.01) -> dict:
    tracks = {t["music_id"]: t for t in data["tracks"]}
    vids = [v for v in data["videos"]]
    train_v = [v for v in vids if v["split"] == "train"]
    test_v = [v for v in vids if v["split"] == "test"]
    all_tracks = [tracks[v["music_id"]] for v in train_v + test_v]
    targets = _targets(all_tracks)
    n_tr = len(train_v)
    text_of = {}
    for split in ("train", "test", "test_tags"):
        for r in data["triplets"].get(split, []):
            text_of.setdefault((split, r["video_id"]), r["text"])
    inputs = {
        "video": np.stack([data["video"][v["video_id"]] for v in train_v + test_v]),
        "music": np.stack([data["music"][v["music_id"]] for v in train_v + test_v]),
    }
    if all(("train", v["video_id"]) in text_of for v in train_v):
        train_t = np.stack([data["text"][text_of[("train", v["video_id"])]] for v in train_v])
        for split, name in (("test", "text_human"), ("test_tags", "text_tags")):
            if all((split, v["video_id"]) in text_of for v in test_v):
                test_t = np.stack([data["text"][text_of[(split, v["video_id"])]] for v in test_v])
                inputs[name] = np.concatenate([train_t, test_t])
    out = {}
    for cat in CATS:
        _, y = targets[cat]
        y_tr, y_te = y[:n_tr], y[n_tr:]
        majority = float(y_te[:, y_tr.sum(0).argmax()].mean())
        row = {"majority_baseline": round(majority, 4)}
        for name, x in inputs.items():
            predict = ridge_fit(x[:n_tr], y_tr, alpha)
            row[name] = round(_top1(predict(x[n_tr:]), y_te), 4)
        out[cat] = row
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    return a @ b.T


def rank_metrics(sim: np.ndarray, truth: np.ndarray) -> dict:
    """sim [Q, P]; truth [Q] index of the right item. Recall in [0, 1]."""
    true_sim = sim[np.arange(len(sim)), truth]
    ranks = 1 + (sim > true_sim[:, None]).sum(1)
    return {"R@1": round(float((ranks <= 1).mean()), 4), "R@5": round(float((ranks <= 5).mean()), 4),
            "R@10": round(float((ranks <= 10).mean()), 4), "median_rank": float(np.median(ranks)),
            "n_queries": int(len(sim)), "pool_size": int(sim.shape[1])}


def text_neighbourhoods(data: dict) -> dict:
    tracks = {t["music_id"]: t for t in data["tracks"]}
    human = data["triplets"].get("test", [])
    tags = {r["video_id"]: r for r in data["triplets"].get("test_tags", [])}
    train = data["triplets"].get("train", [])
    if not human or not train:
        return {}
    h = np.stack([data["text"][r["text"]] for r in human])
    t = np.stack([data["text"][r["text"]] for r in train])
    sim = _cos(h, t)
    hg = np.array([tracks[r["music_id"]]["genre"] for r in human])
    tg = np.array([tracks[r["music_id"]]["genre"] for r in train])
    same = hg[:, None] == tg[None, :]
    out = {"human_to_train_same_genre_cos": round(float(sim[same].mean()), 4),
           "human_to_train_other_genre_cos": round(float(sim[~same].mean()), 4)}
    if tags and all(r["video_id"] in tags for r in human):
        pool = np.stack([data["text"][tags[r["video_id"]]["text"]] for r in human])
        out["human_to_own_tags_text"] = rank_metrics(_cos(h, pool), np.arange(len(human)))
    return out


def retrieval_baselines(data: dict, alpha: float = 0.01, text_dropout=(0.0, 0.5)) -> dict:
    """Linear stand-ins for the models: `video_model` is ridge video -> music (an MVPt analogue);
    `fusion_p<p>` is ridge [video; text] -> music trained with text dropout p (each training row counted
    with weight 1-p as is and weight p with its text replaced by the "" embedding), queried with the
    "" text (video_only), the human text (video_text) and the tags text (video_text_tags)."""
    vids = data["videos"]
    train_v = [v for v in vids if v["split"] == "train"]
    test_v = [v for v in vids if v["split"] == "test"]
    pool_ids = sorted({v["music_id"] for v in test_v})
    pool_idx = {m: i for i, m in enumerate(pool_ids)}
    pool = np.stack([data["music"][m] for m in pool_ids])
    truth = np.array([pool_idx[v["music_id"]] for v in test_v])
    y_tr = np.stack([data["music"][v["music_id"]] for v in train_v])
    xv_tr = np.stack([data["video"][v["video_id"]] for v in train_v])
    xv_te = np.stack([data["video"][v["video_id"]] for v in test_v])
    centre = y_tr.mean(0)

    def score(pred):
        return rank_metrics(_cos(pred - centre, pool - centre), truth)

    n = len(pool_ids)
    out = {"chance": {"R@1": round(1 / n, 4), "R@5": round(min(5, n) / n, 4), "R@10": round(min(10, n) / n, 4),
                      "median_rank": (n + 1) / 2, "pool_size": n}}
    out["video_model"] = {"video_only": score(ridge_fit(xv_tr, y_tr, alpha)(xv_te))}
    text_rows = {}
    for split in ("train", "test", "test_tags"):
        for r in data["triplets"].get(split, []):
            text_rows.setdefault((split, r["video_id"]), r["text"])
    if "" not in data["text"] or not all(("train", v["video_id"]) in text_rows for v in train_v):
        return out
    null = data["text"][""]
    xt_tr = np.stack([data["text"][text_rows[("train", v["video_id"])]] for v in train_v])
    queries = {"video_only": np.repeat(null[None], len(test_v), 0)}
    for split, name in (("test", "video_text"), ("test_tags", "video_text_tags")):
        if all((split, v["video_id"]) in text_rows for v in test_v):
            queries[name] = np.stack([data["text"][text_rows[(split, v["video_id"])]] for v in test_v])
    for p in text_dropout:
        x = np.concatenate([np.concatenate([xv_tr, xt_tr], 1),
                            np.concatenate([xv_tr, np.repeat(null[None], len(xv_tr), 0)], 1)])
        weights = np.concatenate([np.full(len(xv_tr), 1.0 - p), np.full(len(xv_tr), p)])
        keep = weights > 0
        predict = ridge_fit(x[keep], np.concatenate([y_tr, y_tr])[keep], alpha, weights[keep])
        out[f"fusion_p{p:g}"] = {name: score(predict(np.concatenate([xv_te, xt], 1)))
                                 for name, xt in queries.items()}
    return out


def structure_check(out_dir, alpha: float = 0.01) -> dict:
    data = load(out_dir)
    return {"probes": probes(data, alpha), "text": text_neighbourhoods(data),
            "linear_retrieval": retrieval_baselines(data, alpha)}


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(json.dumps(structure_check(sys.argv[1]), indent=2))
