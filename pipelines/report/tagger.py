"""What the report shows about the tagger's output (tags-*.parquet of `viml-synth tag`): how confident the
tagger is per category, and the audio descriptors (tempo, key, loudness, danceability) when the tag run
wrote a `descriptors` column; runs without it simply have no descriptor section."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report import read
from pipelines.report.aggregate import histogram, value_counts

CONFIDENCE_EDGES = [round(0.05 * i, 2) for i in range(21)]
# Fixed bins for the numeric descriptors (values outside are clipped into the end bins, so none is lost)
DESCRIPTOR_EDGES = {
    "bpm": list(range(40, 225, 5)),
    "bpm_confidence": None,  # scale differs between estimators: bins from the data's range
    "key_strength": [round(0.05 * i, 2) for i in range(21)],
    "loudness_lufs": list(range(-60, 1, 2)),
    "danceability": None,
}
NUMERIC = tuple(DESCRIPTOR_EDGES)
TOP_TAGS = 8  # mean confidence shown for this many most confident tags per category


def _clipped_histogram(values: np.ndarray, edges) -> dict | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    if edges is None:
        lo, hi = float(values.min()), float(values.max())
        edges = list(np.linspace(lo, hi if hi > lo else lo + 1.0, 21).round(4))
    return histogram(np.clip(values, edges[0], edges[-1]), edges)


def aggregate_tags(folder: str) -> dict:
    paths = read.files(folder, "tags")
    if not paths:
        raise FileNotFoundError(f"no tags-*.parquet in {folder}")
    has_descriptors = "descriptors" in read.schema_names(paths[0])
    top1: dict[str, list[np.ndarray]] = defaultdict(list)
    conf_sum: dict[str, Counter] = defaultdict(Counter)
    conf_n: Counter = Counter()
    taggers: Counter = Counter()
    numeric: dict[str, list[np.ndarray]] = defaultdict(list)
    keys: Counter = Counter()
    clips = 0
    columns = ["tagger", "tags"] + (["descriptors"] if has_descriptors else [])
    for t in read.batches(paths, columns):
        clips += len(t)
        taggers.update(value_counts(t["tagger"]))
        flat = pc.list_flatten(t["tags"])
        parent = pc.list_parent_indices(t["tags"])
        scores = pa.table({"clip": parent, "category": pc.fill_null(pc.struct_field(flat, "category"), "other"),
                           "tag": pc.struct_field(flat, "tag"),
                           "confidence": pc.struct_field(flat, "confidence").cast(pa.float64())})
        best = scores.group_by(["clip", "category"]).aggregate([("confidence", "max")])
        for category in pc.unique(best["category"]).to_pylist():
            values = best.filter(pc.equal(best["category"], category))["confidence_max"]
            top1[category].append(values.to_numpy().astype(np.float32))
        per_tag = scores.group_by(["category", "tag"]).aggregate([("confidence", "sum"), ("confidence", "count")])
        for row in per_tag.to_pylist():
            conf_sum[row["category"]][row["tag"]] += row["confidence_sum"] or 0.0
            conf_n[(row["category"], row["tag"])] += row["confidence_count"]
        if has_descriptors:
            desc = t["descriptors"]
            fields = {f.name for f in desc.type}
            for name in NUMERIC:
                if name in fields:
                    col = pc.struct_field(desc, name).cast(pa.float64()).combine_chunks()
                    numeric[name].append(col.drop_null().to_numpy(zero_copy_only=False))
            if "key" in fields:
                keys.update(value_counts(pc.struct_field(desc, "key")))
    mean_conf = {
        c: sorted(((tag, round(s / conf_n[(c, tag)], 4)) for tag, s in sums.items() if conf_n[(c, tag)]),
                  key=lambda x: -x[1])[:TOP_TAGS]
        for c, sums in sorted(conf_sum.items())}
    descriptors = None
    if has_descriptors:
        descriptors = {"clips_with": {}, "histograms": {}, "keys": keys.most_common()}
        for name in NUMERIC:
            values = np.concatenate(numeric[name]) if numeric.get(name) else np.zeros(0)
            descriptors["clips_with"][name] = int(np.isfinite(values).sum())
            hist = _clipped_histogram(values, DESCRIPTOR_EDGES[name])
            if hist:
                descriptors["histograms"][name] = {**hist, "mean": round(float(np.nanmean(values)), 3)}
        descriptors["clips_with"]["key"] = sum(keys.values())
    return {
        "folder": folder,
        "summary": read.read_json(read.FileSystems.join(folder, "summary.json")),
        "clips": clips,
        "taggers": dict(taggers),
        "top1_confidence": {c: histogram(np.concatenate(v), CONFIDENCE_EDGES) for c, v in sorted(top1.items())},
        "mean_confidence": mean_conf,
        "descriptors": descriptors,
    }
