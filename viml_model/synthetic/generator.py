"""Synthetic ViML benchmark: video, music and text features with a planted, known structure.

Why: the real YT8M-MusicVideo features are not available here, and a benchmark whose answer is known
tells whether the trainer learns what it should (video+text > video only >> chance) and what text
dropout (paper sec. 2.2) does, in minutes on a CPU.

The generative story (every number below is a `SyntheticConfig` field; one seed drives everything)
---------------------------------------------------------------------------------------------------
Tracks. N tracks (``n_train_tracks`` + ``n_test_tracks``), each with latent attributes named with the
project's tag vocabulary (``pipelines/data/vocabulary.yaml``; the first ``n_genres`` / ``n_moods`` /
``n_instruments`` tags of each category): 1 genre, ``moods_per_track`` (1-2) moods and
``instruments_per_track`` (2-4) instruments, drawn with Zipf-like popularity (``attribute_skew``; 0 =
uniform; vocabulary order = popularity order, so rock and pop are common). Each track also has a
``style_dim``-d style vector s ~ N(0, I/style_dim): what video and music share beyond tags (pace, look,
era), which no text names.

Fixed random maps (drawn once per seed): a unit direction per attribute in music space (D_m) and another
in video space (D_v), a projection of the style vector into each space, and ``n_scenes`` unit "scene"
centroids in video space.

Music features [S, D_m] (S in ``music_segments``) encode ALL attributes: segment k =
sum_a mask[k,a] * w_a * u^m_a + music_style * P_m s + music_track_noise * e_track + music_segment_noise * e_k,
w_a = music_weights[category] * U(1 - jitter, 1 + jitter) per track (a per-track mixture), instruments
audible in a segment with ``instrument_presence``, e ~ N(0, I/D) (norm ~ 1).

Video features [T, D_v] (T in ``video_frames``) reveal only PART of them: frame k =
sum_a w'_a * u^v_a + video_style * P_v s + video_scene * c_scene + video_nuisance * e_video + frame_noise * e_k,
with video_weights = genre 0.3 (weak), mood 0.6, instrument 0.0 (invisible), against a per-video nuisance
of norm 3 (``video_nuisance``) and a scene of norm 1.5: the genre shows faintly, the mood clearly, the
instruments not at all. The scene (one of ``n_scenes``, independent of the music) and the per-video
nuisance are there to be ignored. Noise knobs are norms of N(0, I/D) vectors, so they mean less in a
larger D (the ``tiny`` preset, D = 32, halves them). A track has ``train_videos_per_track`` /
``test_videos_per_track`` videos (YT8M-MusicVideo: one).

Texts name attributes and are encoded with the real text encoder (all-MiniLM-L6-v2, 384-d, see
`encode.py`), one feature row per distinct text, plus the row for "" (the text-dropout NULL).
* Training texts (``train_methods``), written like the synthesized ones: ``tags`` (every attribute,
  shuffled, comma separated, as the paper's tags method) and ``data2text`` (one templated sentence per
  category with vocabulary names; each attribute left out with ``train_omit_rate``). A tagger error rate
  (``train_error_rate``, default 0) swaps attributes for wrong ones.
* Test texts (``test/``), written like human annotations (method ``human``): other words (synonyms with
  ``test_synonym_rate``), a short caption template, each attribute named only with ``test_keep``
  (genre 0.8, each mood 0.6, each instrument 0.5: omissions; about half of a track's attributes are
  named), a named attribute replaced by a wrong one of its category with ``test_error_rate`` (0.15), one
  extra wrong mood/instrument with ``test_hallucination_rate`` (0.05), a remark naming nothing ("Great
  for a party.") with ``test_filler_rate`` (0.3). About 40% of the test texts name something wrong.
* ``test_tags/`` (``test_tags_split``): the same test videos with ``tags`` texts (the paper's Table 1
  setting, synthetic tags at test time).

Output (the project's data contract)
------------------------------------
OUT/features/{video,music,text}-00000-of-00001.parquet + encoders.json in the feature extractor's schemas
(pipelines/features/schemas.py: id + features [T, D] / [S, D] / [D], plus n_frames, timestamps, ... with
nominal 1 fps frames and 3 s music segments; source paths null), "" among the texts; OUT/{train,test,
test_tags}/triplets-00000-of-00001.parquet (TRIPLETS_SCHEMA: `tags` = the track's true attributes,
`metadata.fidelity` = what the text names right, leaves out and gets wrong); train and test share no video
and no music track (the trainer holds validation videos out of train itself).
OUT/tracks.parquet and OUT/videos.parquet hold the ground truth (attributes, scene), OUT/synthetic.json
the config, counts, text error statistics, chance levels and timings. Ids are shuffled so they carry no
split or pairing information.

What the default benchmark measures (seed 0; `check.py`, `python -m viml_model.synthetic OUT --check`)
------------------------------------------------------------------------------------------------------
Linear probes, top-1 hit on test tracks (majority baseline): from video, genre 0.19 (0.12), mood 0.49
(0.16), instrument 0.19 (0.25, i.e. chance); from music 0.99 / 0.99 / 0.99; from human texts 0.50 / 0.34 /
0.57; from tags texts 1.0. Human texts are closer to training texts of the same genre (cosine 0.45 vs
0.41) and find their own track's tags text among 500 with R@10 48% (chance 2%). Ridge retrieval in the
500-track test pool (chance R@10 2%, MR 250): video only R@10 40%, MR 21; [video; human text] trained with
linear "text dropout" p = 0.5: 50%, MR 11, and video only 35%; without dropout video only falls to 4%.
Generation: ~25 s with a cold text-embedding cache on one free core (3,000 texts; model load included),
~1 s warm; the tiny preset (280 texts) ~6 s cold, 4 s of it loading the encoder.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io.schemas import TRIPLETS_SCHEMA
from viml_model.synthetic import texts as W
from viml_model.synthetic.encode import ENCODER_DIM, ENCODER_NAME, TextEncoder, feature_list, feature_list_list

GENERATOR_VERSION = "1"
CATEGORIES = W.CATEGORIES

try:  # the features directory's contract, declared once by the feature extractor
    from pipelines.features.schemas import FORMAT as FEATURES_FORMAT
    from pipelines.features.schemas import MUSIC_SCHEMA, TEXT_SCHEMA, VIDEO_SCHEMA
except ImportError:  # pragma: no cover - the minimal contract the trainer reads (viml_model/data.py)
    FEATURES_FORMAT = None
    VIDEO_SCHEMA = pa.schema([("video_id", pa.string()), ("features", pa.list_(pa.list_(pa.float32())))])
    MUSIC_SCHEMA = pa.schema([("music_id", pa.string()), ("features", pa.list_(pa.list_(pa.float32())))])
    TEXT_SCHEMA = pa.schema([("text", pa.string()), ("features", pa.list_(pa.float32()))])
TRACKS_SCHEMA = pa.schema([("music_id", pa.string()), ("split", pa.string()), ("genre", pa.string()),
                           ("moods", pa.list_(pa.string())), ("instruments", pa.list_(pa.string()))])
VIDEOS_SCHEMA = pa.schema([("video_id", pa.string()), ("music_id", pa.string()), ("split", pa.string()),
                           ("scene", pa.int32()), ("n_frames", pa.int32())])

SHARD = "00000-of-00001"
SPLITS = ("train", "test", "test_tags")


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    # scale
    n_train_tracks: int = 2000
    n_test_tracks: int = 500
    train_videos_per_track: int = 1
    test_videos_per_track: int = 1
    # attributes
    n_genres: int = 20
    n_moods: int = 28
    n_instruments: int = 41
    moods_per_track: tuple = (1, 2)
    instruments_per_track: tuple = (2, 4)
    attribute_skew: float = 0.5
    # feature spaces
    video_dim: int = 128
    music_dim: int = 128
    style_dim: int = 8
    video_frames: tuple = (6, 10)
    music_segments: tuple = (6, 10)
    attribute_jitter: float = 0.4
    # music: encodes everything
    music_weights: dict = field(default_factory=lambda: {"genre": 1.0, "mood": 0.8, "instrument": 0.8})
    music_style: float = 1.0
    music_track_noise: float = 1.0
    music_segment_noise: float = 1.5
    instrument_presence: float = 0.8
    # video: reveals part
    video_weights: dict = field(default_factory=lambda: {"genre": 0.3, "mood": 0.6, "instrument": 0.0})
    video_style: float = 0.6
    n_scenes: int = 16
    video_scene: float = 1.5
    video_nuisance: float = 3.0
    frame_noise: float = 1.0
    # training texts (synthesized register)
    train_methods: tuple = ("tags", "data2text")
    train_texts_per_video: int = 1
    train_omit_rate: float = 0.1
    train_error_rate: float = 0.0
    # test texts (human register)
    test_keep: dict = field(default_factory=lambda: {"genre": 0.8, "mood": 0.6, "instrument": 0.5})
    test_error_rate: float = 0.15
    test_hallucination_rate: float = 0.05
    test_synonym_rate: float = 0.7
    test_filler_rate: float = 0.3
    test_tags_split: bool = True

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v, tuple) else v)
                for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}


PRESETS: dict[str, dict] = {
    "default": {},
    # For tests: small vocabulary so a few hundred tracks cover it; still the same story.
    "tiny": dict(n_train_tracks=160, n_test_tracks=60, n_genres=6, n_moods=8, n_instruments=12,
                 video_dim=32, music_dim=32, style_dim=4, video_frames=(3, 6), music_segments=(3, 6),
                 n_scenes=4, video_nuisance=1.5, frame_noise=0.5, music_track_noise=0.5,
                 music_segment_noise=0.75),
}


def make_config(preset: str = "default", seed: int = 0, **overrides) -> SyntheticConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}'; choose from {', '.join(PRESETS)}")
    base = SyntheticConfig()
    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    values = {**PRESETS[preset], **overrides, "seed": seed}
    bad = sorted(set(values) - known)
    if bad:
        raise TypeError(f"unknown synthetic benchmark setting(s): {', '.join(bad)}; known: {', '.join(sorted(known))}")
    for key, value in list(values.items()):
        default = getattr(base, key)
        if isinstance(default, dict) and isinstance(value, dict):
            unknown = set(value) - set(default)
            if unknown:
                raise ValueError(f"{key}: unknown key(s) {sorted(unknown)}; expected {sorted(default)}")
            values[key] = {**default, **value}
        elif isinstance(default, tuple) and isinstance(value, list):
            values[key] = tuple(value)
    cfg = dataclasses.replace(base, **values)
    _validate(cfg)
    return cfg


def _validate(c: SyntheticConfig) -> None:
    def need(ok: bool, msg: str):
        if not ok:
            raise ValueError(f"synthetic benchmark: {msg}")

    need(c.n_train_tracks >= 2 and c.n_test_tracks >= 2, "need at least 2 train and 2 test tracks")
    need(c.train_videos_per_track >= 1 and c.test_videos_per_track >= 1, "videos per track must be >= 1")
    for name in ("moods_per_track", "instruments_per_track", "video_frames", "music_segments"):
        lo, hi = getattr(c, name)
        need(1 <= lo <= hi, f"{name} must be (min, max) with 1 <= min <= max")
    need(c.moods_per_track[1] < c.n_moods and c.instruments_per_track[1] < c.n_instruments,
         "a category must have more tags than a track uses (errors swap in another tag)")
    need(c.n_genres >= 2, "n_genres must be >= 2")
    need(c.train_texts_per_video >= 1, "train_texts_per_video must be >= 1")
    need(set(c.train_methods) <= {"tags", "data2text"} and c.train_methods, "train_methods: tags and/or data2text")
    for name in ("train_omit_rate", "train_error_rate", "test_error_rate", "test_hallucination_rate",
                 "test_synonym_rate", "test_filler_rate", "instrument_presence"):
        need(0.0 <= getattr(c, name) <= 1.0, f"{name} must be in [0, 1]")
    need(0.0 <= c.attribute_jitter < 1.0, "attribute_jitter must be in [0, 1)")


# ------------------------------------------------------------------------------------------- latents


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _noise(rng: np.random.Generator, shape, d: int) -> np.ndarray:
    return rng.standard_normal((*shape, d)) / np.sqrt(d)


def vocabulary_pools(cfg: SyntheticConfig) -> dict[str, list[str]]:
    from pipelines.tag.vocabulary import Vocabulary

    vocab = Vocabulary.load()
    sizes = {"genre": cfg.n_genres, "mood": cfg.n_moods, "instrument": cfg.n_instruments}
    pools = {c: [t.name for t in vocab.tags if t.category == c] for c in CATEGORIES}
    for c in CATEGORIES:
        if sizes[c] > len(pools[c]):
            raise ValueError(f"n_{c}s={sizes[c]} but the vocabulary has {len(pools[c])} {c} tags")
        pools[c] = pools[c][: sizes[c]]
    return pools


@dataclass
class Latents:
    pools: dict  # category -> tag names
    attr_names: list  # flat attribute index -> tag name
    attr_cat: np.ndarray  # flat index -> category index
    tracks: list  # per track: {"genre": [..], "mood": [..], "instrument": [..]}
    multi_hot: np.ndarray  # [N, A]
    style: np.ndarray  # [N, K]
    split: np.ndarray  # [N] "train" | "test"


def sample_latents(cfg: SyntheticConfig) -> Latents:
    pools = vocabulary_pools(cfg)
    attr_names = [t for c in CATEGORIES for t in pools[c]]
    attr_cat = np.array([i for i, c in enumerate(CATEGORIES) for _ in pools[c]])
    offset = {c: sum(len(pools[x]) for x in CATEGORIES[:i]) for i, c in enumerate(CATEGORIES)}
    rng = _rng(cfg.seed, 1)
    n = cfg.n_train_tracks + cfg.n_test_tracks
    counts = {"genre": (1, 1), "mood": tuple(cfg.moods_per_track), "instrument": tuple(cfg.instruments_per_track)}
    probs = {}
    for c in CATEGORIES:
        p = 1.0 / np.arange(1, len(pools[c]) + 1) ** cfg.attribute_skew
        probs[c] = p / p.sum()
    tracks, multi_hot = [], np.zeros((n, len(attr_names)), np.float32)
    for i in range(n):
        attrs = {}
        for c in CATEGORIES:
            k = int(rng.integers(counts[c][0], counts[c][1] + 1))
            idx = sorted(rng.choice(len(pools[c]), size=k, replace=False, p=probs[c]).tolist())
            attrs[c] = [pools[c][j] for j in idx]
            multi_hot[i, [offset[c] + j for j in idx]] = 1.0
        tracks.append(attrs)
    style = rng.standard_normal((n, cfg.style_dim)) / np.sqrt(cfg.style_dim)
    split = np.array(["train"] * cfg.n_train_tracks + ["test"] * cfg.n_test_tracks)
    return Latents(pools, attr_names, attr_cat, tracks, multi_hot, style, split)


def _category_weights(lat: Latents, weights: dict) -> np.ndarray:
    return np.array([float(weights.get(CATEGORIES[c], 0.0)) for c in lat.attr_cat], np.float64)


def music_features(cfg: SyntheticConfig, lat: Latents) -> list[np.ndarray]:
    maps = _rng(cfg.seed, 0)
    u_m = _unit(maps, len(lat.attr_names), cfg.music_dim)
    p_m = _unit(maps, cfg.style_dim, cfg.music_dim)
    rng = _rng(cfg.seed, 2)
    cat_w = _category_weights(lat, cfg.music_weights)
    is_instr = lat.attr_cat == CATEGORIES.index("instrument")
    j = cfg.attribute_jitter
    out = []
    for i in range(len(lat.tracks)):
        s = int(rng.integers(cfg.music_segments[0], cfg.music_segments[1] + 1))
        w = lat.multi_hot[i] * cat_w * rng.uniform(1 - j, 1 + j, len(cat_w))
        mask = np.ones((s, len(w)))
        mask[:, is_instr] = rng.random((s, int(is_instr.sum()))) < cfg.instrument_presence
        track = cfg.music_style * lat.style[i] @ p_m + cfg.music_track_noise * _noise(rng, (), cfg.music_dim)
        seg = (mask * w) @ u_m + track + cfg.music_segment_noise * _noise(rng, (s,), cfg.music_dim)
        out.append(seg.astype(np.float32))
    return out


def video_features(cfg: SyntheticConfig, lat: Latents, video_track: np.ndarray,
                   video_scene: np.ndarray) -> list[np.ndarray]:
    maps = _rng(cfg.seed, 0)
    _unit(maps, len(lat.attr_names), cfg.music_dim)  # same stream order as music_features
    _unit(maps, cfg.style_dim, cfg.music_dim)
    u_v = _unit(maps, len(lat.attr_names), cfg.video_dim)
    p_v = _unit(maps, cfg.style_dim, cfg.video_dim)
    scenes = _unit(maps, cfg.n_scenes, cfg.video_dim)
    rng = _rng(cfg.seed, 3)
    cat_w = _category_weights(lat, cfg.video_weights)
    j = cfg.attribute_jitter
    out = []
    for v, i in enumerate(video_track):
        t = int(rng.integers(cfg.video_frames[0], cfg.video_frames[1] + 1))
        w = lat.multi_hot[i] * cat_w * rng.uniform(1 - j, 1 + j, len(cat_w))
        base = (w @ u_v + cfg.video_style * lat.style[i] @ p_v + cfg.video_scene * scenes[video_scene[v]]
                + cfg.video_nuisance * _noise(rng, (), cfg.video_dim))
        out.append((base + cfg.frame_noise * _noise(rng, (t,), cfg.video_dim)).astype(np.float32))
    return out


# ---------------------------------------------------------------------------------------------- texts


def _row_seed(seed: int, music_id: str, video_id: str, method: str, sample: int) -> int:
    from pipelines.synthesize.work import row_seed

    return row_seed(seed, music_id, video_id, method, sample)


def make_text(cfg: SyntheticConfig, lat: Latents, attrs: dict, method: str, rng: random.Random):
    """(text, template ids, NamedAttributes) for one row."""
    if method == "human":
        named = W.choose_named(attrs, lat.pools, rng, keep=cfg.test_keep, error_rate=cfg.test_error_rate,
                               hallucination_rate=cfg.test_hallucination_rate)
        text, ids = W.human_text(named.by_cat, rng, cfg.test_synonym_rate, cfg.test_filler_rate)
    elif method == "tags":
        named = W.choose_named(attrs, lat.pools, rng, keep={}, error_rate=cfg.train_error_rate,
                               hallucination_rate=0.0)
        text, ids = W.tags_text([t for c in CATEGORIES for t in named.by_cat[c]], rng)
    elif method == "data2text":
        keep = {c: 1.0 - cfg.train_omit_rate for c in CATEGORIES}
        named = W.choose_named(attrs, lat.pools, rng, keep=keep, error_rate=cfg.train_error_rate,
                               hallucination_rate=0.0)
        text, ids = W.data2text_text(named.by_cat, rng)
    else:
        raise ValueError(f"unknown text method {method!r}")
    return text, ids, named


def _triplet_row(cfg, lat, track: int, video_id: str, music_id: str, method: str, sample: int, split: str):
    seed = _row_seed(cfg.seed, music_id, video_id, method, sample)
    attrs = lat.tracks[track]
    text, ids, named = make_text(cfg, lat, attrs, method, random.Random(seed))
    metadata = {f.name: None for f in TRIPLETS_SCHEMA.field("metadata").type}
    metadata.update(
        seed=seed,
        template_ids=ids,
        template_version=W.TEMPLATE_VERSION,
        fidelity={"coverage": named.coverage, "mentioned": named.mentioned, "missing": named.missing,
                  "hallucinated": named.wrong},
        details=json.dumps({"generator": "viml_model.synthetic", "version": GENERATOR_VERSION, "split": split,
                            "register": "human" if method == "human" else "synthesized"}),
    )
    return {
        "video_id": video_id, "music_id": music_id, "method": method, "sample": sample, "text": text,
        "tags": [{"tag": t, "category": c, "confidence": 1.0} for c in CATEGORIES for t in attrs[c]],
        "metadata": metadata,
    }


# --------------------------------------------------------------------------------------------- output


SECONDS_PER_FRAME = 1.0  # nominal: the synthetic video is "sampled" at 1 fps
SECONDS_PER_SEGMENT = 3.0  # nominal: one music segment per 3 s patch, as musicnn


def _table(schema: pa.Schema, columns: dict) -> pa.Table:
    """A table of `schema`; fields not given are null (e.g. the source paths a synthetic row has not)."""
    n = len(next(iter(columns.values())))
    arrays = []
    for f in schema:
        value = columns.get(f.name)
        arrays.append(pa.nulls(n, f.type) if value is None else
                      value if isinstance(value, pa.Array) else pa.array(value, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _clear(folder: Path, pattern: str) -> None:
    for old in glob.glob(str(folder / pattern)):
        os.remove(old)


def _text_stats(rows: list[dict]) -> dict:
    if not rows:
        return {}
    fid = [r["metadata"]["fidelity"] for r in rows]
    return {
        "rows": len(rows),
        "distinct_texts": len({r["text"] for r in rows}),
        "mean_words": round(float(np.mean([len(r["text"].split()) for r in rows])), 2),
        "mean_coverage": round(float(np.mean([f["coverage"] for f in fid])), 4),
        "share_with_wrong_attribute": round(float(np.mean([bool(f["hallucinated"]) for f in fid])), 4),
        "wrong_per_text": round(float(np.mean([len(f["hallucinated"]) for f in fid])), 4),
        "examples": [r["text"] for r in rows[:5]],
    }


@dataclass
class Layout:
    """Who is who: shuffled ids, which track each video shows, and its scene."""

    music_ids: list  # per track
    video_ids: list  # per video
    video_track: np.ndarray  # per video: its track
    video_scene: np.ndarray  # per video: its scene


def assign_ids(cfg: SyntheticConfig, lat: Latents) -> Layout:
    """Shuffled ids (they carry no split or pairing information) and a scene per video."""
    n = len(lat.tracks)
    ids_rng = _rng(cfg.seed, 4)
    music_ids = [f"syn-m{k:06d}" for k in ids_rng.permutation(n)]
    vpt = np.where(lat.split == "train", cfg.train_videos_per_track, cfg.test_videos_per_track)
    video_track = np.repeat(np.arange(n), vpt)
    video_ids = [f"syn-v{k:06d}" for k in ids_rng.permutation(len(video_track))]
    video_scene = _rng(cfg.seed, 5).integers(0, cfg.n_scenes, len(video_track))
    return Layout(music_ids, video_ids, video_track, video_scene)


def triplet_rows(cfg: SyntheticConfig, lat: Latents, lay: Layout) -> dict[str, list[dict]]:
    """Per split: training rows (train_methods), test rows (human) and test_tags rows (tags)."""
    method_rng = _rng(cfg.seed, 6)
    rows = {s: [] for s in SPLITS}
    for v, i in enumerate(lay.video_track):
        split = str(lat.split[i])
        ids = (lay.video_ids[v], lay.music_ids[i])
        if split == "train":
            methods = method_rng.choice(list(cfg.train_methods), size=cfg.train_texts_per_video)
            rows["train"].extend(_triplet_row(cfg, lat, i, *ids, str(m), sample, split)
                                 for sample, m in enumerate(methods))
        else:
            rows["test"].append(_triplet_row(cfg, lat, i, *ids, "human", 0, split))
            if cfg.test_tags_split:
                rows["test_tags"].append(_triplet_row(cfg, lat, i, *ids, "tags", 0, split))
    for s in rows:
        rows[s].sort(key=lambda r: (r["video_id"], r["sample"]))
    return rows


def write_features(feats_dir: Path, cfg: SyntheticConfig, lay: Layout, video: list, music: list,
                   texts: list[str], text_vecs: np.ndarray) -> None:
    """video/music/text-*.parquet and encoders.json in the feature extractor's schemas."""
    for pattern in ("video-*.parquet", "music-*.parquet", "text-*.parquet"):
        _clear(feats_dir, pattern)
    vorder = np.argsort(lay.video_ids)
    n_frames = [len(video[k]) for k in vorder]
    _write(_table(VIDEO_SCHEMA, {
        "video_id": [lay.video_ids[k] for k in vorder], "features": feature_list_list([video[k] for k in vorder]),
        "n_frames": n_frames, "timestamps": [np.arange(t, dtype=np.float32) * SECONDS_PER_FRAME for t in n_frames],
        "start_s": [0.0] * len(vorder), "end_s": [t * SECONDS_PER_FRAME for t in n_frames],
    }), feats_dir / f"video-{SHARD}.parquet")
    morder = np.argsort(lay.music_ids)
    n_segments = [len(music[k]) for k in morder]
    _write(_table(MUSIC_SCHEMA, {
        "music_id": [lay.music_ids[k] for k in morder], "features": feature_list_list([music[k] for k in morder]),
        "n_segments": n_segments, "duration_s": [s * SECONDS_PER_SEGMENT for s in n_segments],
    }), feats_dir / f"music-{SHARD}.parquet")
    _write(_table(TEXT_SCHEMA, {"text": texts, "features": feature_list(text_vecs)}),
           feats_dir / f"text-{SHARD}.parquet")
    settings = {"generator": "viml_model.synthetic", "version": GENERATOR_VERSION, "seed": cfg.seed}
    encoders = {
        "video": {"name": "synthetic-video", "dim": cfg.video_dim, "files": "video-*.parquet", "rows": len(video),
                  "settings": {**settings, "seconds_per_frame": SECONDS_PER_FRAME}},
        "music": {"name": "synthetic-music", "dim": cfg.music_dim, "files": "music-*.parquet", "rows": len(music),
                  "settings": {**settings, "seconds_per_segment": SECONDS_PER_SEGMENT}},
        "text": {"name": ENCODER_NAME, "dim": ENCODER_DIM, "files": "text-*.parquet", "rows": len(texts),
                 "settings": {"model": "sentence-transformers/all-MiniLM-L6-v2", "normalized": True}},
    }
    if FEATURES_FORMAT:
        encoders = {"format": FEATURES_FORMAT, **encoders}
    (feats_dir / "encoders.json").write_text(json.dumps(encoders, indent=2) + "\n")


def write_triplets(out: Path, rows: dict[str, list[dict]]) -> None:
    for s in SPLITS:
        _clear(out / s, "triplets-*.parquet")
        if rows[s]:
            _write(pa.Table.from_pylist(rows[s], schema=TRIPLETS_SCHEMA), out / s / f"triplets-{SHARD}.parquet")
    if not rows["test_tags"]:
        try:
            (out / "test_tags").rmdir()
        except OSError:
            pass


def write_ground_truth(out: Path, lat: Latents, lay: Layout, video: list) -> None:
    """tracks.parquet (attributes per track) and videos.parquet (track, scene, frames per video)."""
    _write(pa.table({
        "music_id": lay.music_ids, "split": lat.split.tolist(),
        "genre": [t["genre"][0] for t in lat.tracks],
        "moods": [t["mood"] for t in lat.tracks], "instruments": [t["instrument"] for t in lat.tracks],
    }, schema=TRACKS_SCHEMA).sort_by("music_id"), out / "tracks.parquet")
    _write(pa.table({
        "video_id": lay.video_ids, "music_id": [lay.music_ids[i] for i in lay.video_track],
        "split": lat.split[lay.video_track].tolist(), "scene": lay.video_scene.astype(np.int32),
        "n_frames": np.array([len(x) for x in video], np.int32),
    }, schema=VIDEOS_SCHEMA).sort_by("video_id"), out / "videos.parquet")


def summary_stats(cfg: SyntheticConfig, lat: Latents, lay: Layout, rows: dict, n_texts: int, encoder,
                  seconds: dict) -> dict:
    pool = cfg.n_test_tracks
    return {
        "tracks": {"train": cfg.n_train_tracks, "test": cfg.n_test_tracks},
        "videos": {s: int((lat.split[lay.video_track] == s).sum()) for s in ("train", "test")},
        "triplets": {s: len(rows[s]) for s in SPLITS if rows[s]},
        "text_rows": n_texts,
        "texts": {s: _text_stats(rows[s]) for s in SPLITS if rows[s]},
        "chance": {"pool_size": pool, "R@1": 1 / pool, "R@5": min(5, pool) / pool, "R@10": min(10, pool) / pool,
                   "median_rank": (pool + 1) / 2},
        "encoder": dict(encoder.stats),
        "seconds": seconds,
    }


def output_paths(out: Path, rows: dict) -> dict:
    return {
        "out_dir": str(out), "features": str(out / "features"),
        "train_triplets": str(out / "train" / "triplets-*.parquet"),
        "test_triplets": str(out / "test" / "triplets-*.parquet"),
        "test_tags_triplets": str(out / "test_tags" / "triplets-*.parquet") if rows["test_tags"] else None,
        "tracks": str(out / "tracks.parquet"), "videos": str(out / "videos.parquet"),
        "summary": str(out / "synthetic.json"),
    }


def generate(out_dir: str | Path, preset: str = "default", seed: int = 0, *, text_cache=None,
             encoder: TextEncoder | None = None, **overrides) -> dict:
    """Write the benchmark to out_dir; returns {"paths": ..., "stats": ..., "config": ...}.

    overrides: any SyntheticConfig field (dict fields merge, e.g. video_weights={"instrument": 0.3}).
    text_cache: folder for the on-disk text-embedding cache, None for the default, False for none.
    """
    started = time.perf_counter()
    cfg = make_config(preset, seed, **overrides)
    out = Path(out_dir)
    feats_dir = out / "features"
    for d in (out, feats_dir, *(out / s for s in SPLITS)):
        d.mkdir(parents=True, exist_ok=True)

    lat = sample_latents(cfg)
    lay = assign_ids(cfg, lat)
    t0 = time.perf_counter()
    music = music_features(cfg, lat)
    video = video_features(cfg, lat, lay.video_track, lay.video_scene)
    t_features = time.perf_counter() - t0
    rows = triplet_rows(cfg, lat, lay)

    # text features: every distinct text + "" (the NULL of text dropout)
    t0 = time.perf_counter()
    encoder = encoder or TextEncoder(cache_dir=text_cache)
    texts = sorted({""} | {r["text"] for s in rows for r in rows[s]})
    text_vecs = encoder.encode(texts)
    t_text = time.perf_counter() - t0

    write_features(feats_dir, cfg, lay, video, music, texts, text_vecs)
    write_triplets(out, rows)
    write_ground_truth(out, lat, lay, video)
    seconds = {"features": round(t_features, 3), "texts": round(t_text, 3),
               "total": round(time.perf_counter() - started, 3)}
    stats = summary_stats(cfg, lat, lay, rows, len(texts), encoder, seconds)
    paths = output_paths(out, rows)
    summary = {"generator": "viml_model.synthetic", "version": GENERATOR_VERSION, "preset": preset,
               "config": cfg.to_dict(), "paths": paths, "stats": stats}
    (out / "synthetic.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {"paths": paths, "stats": stats, "config": cfg.to_dict()}
