"""What the report shows about one synthesize run, as plain JSON-able numbers.

Counted over every row, batch by batch with pyarrow (memory stays flat at millions of rows): texts per
method, words per text, tag coverage and hallucinated tags (from the fidelity each method recorded in
the row's metadata), selected tags per track and per category, selection fallbacks, errors.
Over a seeded sample (`text_sample` texts per method, the same rows at any file or row order):
vocabulary size and distinct-1/2 through pipelines.evaluate (its definitions, so the numbers match
`viml-synth evaluate-text`); these grow with the number of texts, so runs are compared at equal samples.
Examples: a seeded sample of tracks with every method's texts.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report import read
from pipelines.report.limits import EXAMPLES, TEXT_SAMPLE

WORD = r"[a-z0-9]+(?:'[a-z0-9]+)*"  # a word as pipelines.evaluate.text_metrics counts one
COVERAGE_EDGES = [round(0.1 * i, 1) for i in range(11)]
ERROR_EXAMPLES = 3  # messages shown per (stage, error type)
PREFERRED_REFERENCE = ("tags", "data2text", "prompt2text")


def reference_method(methods: list[str]) -> str:
    """The method whose sample-0 rows stand for the tracks: every method of a track gets the same selected
    tags, and `tags` never fails, so its rows cover the tracks best."""
    return next((m for m in PREFERRED_REFERENCE if m in methods), methods[0])


def histogram(values: np.ndarray, edges: list[float]) -> dict:
    counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=float))
    return {"edges": list(edges), "counts": [int(c) for c in counts]}


def value_counts(array: pa.Array) -> Counter:
    out = Counter()
    for pair in pc.value_counts(array).to_pylist():
        if pair["values"] is not None:
            out[pair["values"]] += pair["counts"]
    return out


def _methods_in(summary: dict | None, paths: list[str]) -> list[str]:
    """Methods in the run's order: summary.json's, else from the file names (triplets-<method>-*.parquet)."""
    if summary and summary.get("per_method"):
        return list(summary["per_method"])
    names = []
    for path in paths:
        stem = path.rsplit("/", 1)[-1][len("triplets-"):]
        name = stem.rsplit("-", 3)[0] if stem.count("-") >= 3 else stem.split("-")[0]
        if name not in names:
            names.append(name)
    return names


class _MethodStats:
    def __init__(self, name: str, seed: int, text_sample: int):
        self.name = name
        self.n = 0
        self.lengths = Counter()
        self.coverage: list[np.ndarray] = []
        self.hallucinations = Counter()  # hallucinated tags per text -> texts
        self.hallucinated_tags = Counter()
        self.sample = read.BottomK(text_sample, seed)

    def add(self, t: pa.Table, keys: pa.Array) -> None:
        self.n += len(t)
        words = pc.count_substring_regex(pc.utf8_lower(pc.fill_null(t["text"], "")), WORD)
        self.lengths.update(value_counts(words))
        fid = pc.struct_field(t["metadata"], "fidelity")
        cov = pc.struct_field(fid, "coverage").combine_chunks()
        self.coverage.append(cov.drop_null().to_numpy(zero_copy_only=False).astype(np.float32))
        halluc = pc.struct_field(fid, "hallucinated")
        self.hallucinations.update(value_counts(pc.fill_null(pc.list_value_length(halluc), 0)))
        self.hallucinated_tags.update(value_counts(pc.list_flatten(halluc)))
        samples = t["sample"].to_pylist()
        for key, sample, text in zip(keys.to_pylist(), samples, t["text"].to_pylist(), strict=True):
            self.sample.offer(f"{key}{read.KEY_SEP}{sample}", text)

    def result(self, vocabulary) -> dict:
        from pipelines.evaluate.text_report import evaluate_texts

        texts = [text for _, text in self.sample.items() if text is not None]
        diversity = evaluate_texts([{"text": x, "method": self.name} for x in texts], vocabulary, embed=False)
        d = diversity["methods"].get(self.name, {}) if texts else {}
        cov = np.concatenate(self.coverage) if self.coverage else np.zeros(0, np.float32)
        total_words = sum(k * v for k, v in self.lengths.items())
        with_halluc = sum(v for k, v in self.hallucinations.items() if k > 0)
        return {
            "texts": self.n,
            "length": {str(k): v for k, v in sorted(self.lengths.items())},
            "mean_length": round(total_words / self.n, 3) if self.n else None,
            "vocab_size": d.get("vocab_size"),
            "distinct1": d.get("distinct1"),
            "distinct2": d.get("distinct2"),
            "diversity_sample": len(texts),
            "coverage": histogram(cov, COVERAGE_EDGES),
            "mean_coverage": round(float(cov.mean()), 4) if len(cov) else None,
            "texts_with_fidelity": int(len(cov)),
            "hallucinations_per_text": {str(k): v for k, v in sorted(self.hallucinations.items())},
            "share_with_hallucination": round(with_halluc / self.n, 4) if self.n else None,
            "top_hallucinated": self.hallucinated_tags.most_common(15),
        }


def _tag_stats(t: pa.Table, by_category: dict, per_track: Counter) -> None:
    """Selected tags of the reference rows (one row per track)."""
    per_track.update(value_counts(pc.fill_null(pc.list_value_length(t["tags"]), 0)))
    flat = pc.list_flatten(t["tags"])
    pairs = pc.binary_join_element_wise(pc.fill_null(pc.struct_field(flat, "category"), "other"),
                                        pc.struct_field(flat, "tag"), read.KEY_SEP)
    for pair, n in value_counts(pairs).items():
        category, _, tag = pair.partition(read.KEY_SEP)
        by_category[category][tag] += n


def aggregate_errors(folder: str) -> dict:
    by_kind: Counter = Counter()
    examples: dict[tuple, list] = defaultdict(list)
    for t in read.batches(read.files(folder, "errors"), ["id", "stage", "error_type", "message"]):
        for row in t.to_pylist():
            kind = (row["stage"], row["error_type"])
            by_kind[kind] += 1
            if len(examples[kind]) < ERROR_EXAMPLES:
                examples[kind].append({"id": row["id"], "message": row["message"]})
    return {"total": sum(by_kind.values()),
            "by_kind": [{"stage": s, "error_type": e, "count": n, "examples": examples[(s, e)]}
                        for (s, e), n in by_kind.most_common()]}


def aggregate_run(folder: str, *, seed: int = 0, text_sample: int = TEXT_SAMPLE, examples: int = EXAMPLES,
                  only_tracks: pa.Array | None = None, vocabulary=None) -> dict:
    """Everything the report shows about the run in `folder` (triplets-*.parquet, errors-*.parquet,
    summary.json). `only_tracks`: track keys (read.track_keys) to restrict it to, for a comparison."""
    paths = read.files(folder, "triplets")
    if not paths:
        raise FileNotFoundError(f"no triplets-*.parquet in {folder}")
    if vocabulary is None:
        from pipelines.tag.vocabulary import Vocabulary

        vocabulary = Vocabulary.load()
    summary = read.read_json(read.FileSystems.join(folder, "summary.json"))
    methods = _methods_in(summary, paths)
    ref = reference_method(methods)
    stats: dict[str, _MethodStats] = {}
    by_category: dict[str, Counter] = defaultdict(Counter)
    per_track: Counter = Counter()
    tracks = fallbacks = 0
    chosen = read.BottomK(examples, seed)
    columns = ["music_id", "video_id", "method", "sample", "text", "tags", "metadata.fidelity",
               "metadata.selection_fallback"]
    for t in read.batches(paths, columns):
        keys = read.track_keys(t)
        if only_tracks is not None:
            keep = pc.is_in(keys, value_set=only_tracks)
            t, keys = t.filter(keep), keys.filter(keep)
        for method in pc.unique(t["method"]).to_pylist():
            mask = pc.equal(t["method"], method)
            sub, sub_keys = t.filter(mask), keys.filter(mask)
            if method not in stats:
                stats[method] = _MethodStats(method, seed, text_sample)
                if method not in methods:
                    methods.append(method)
            stats[method].add(sub, sub_keys)
            if method == ref:
                first = pc.equal(sub["sample"], 0)
                rows, row_keys = sub.filter(first), sub_keys.filter(first)
                tracks += len(rows)
                fallbacks += pc.sum(pc.fill_null(pc.struct_field(rows["metadata"], "selection_fallback"),
                                                 False).cast(pa.int64())).as_py() or 0
                _tag_stats(rows, by_category, per_track)
                for key in row_keys.to_pylist():
                    chosen.offer(key)
    return {
        "folder": folder,
        "summary": summary,
        "methods": [m for m in methods if m in stats] + [m for m in methods if m not in stats],
        "reference_method": ref,
        "tracks": tracks,
        "tags": {
            "by_category": {c: counts.most_common() for c, counts in sorted(by_category.items())},
            "per_track": {str(k): v for k, v in sorted(per_track.items())},
            "selection_fallbacks": fallbacks,
        },
        "texts": {m: stats[m].result(vocabulary) for m in methods if m in stats},
        "errors": aggregate_errors(folder),
        "examples": examples_of(paths, [key for key, _ in chosen.items()], methods),
    }


def examples_of(paths: list[str], keys: list[str], methods: list[str]) -> list[dict]:
    """The tracks named by `keys` (in that order) with their selected tags and every method's texts."""
    if not keys:
        return []
    wanted = pa.array(keys)
    found: dict[str, dict] = {}
    ids = pa.array(sorted({read.key_parts(k)[0] for k in keys}))
    for t in read.batches(paths, ["music_id", "video_id", "method", "sample", "text", "tags"]):
        t = t.filter(pc.is_in(t["music_id"], value_set=ids))  # cheap first cut: most batches drop to nothing
        if not len(t):
            continue
        t_keys = read.track_keys(t)
        keep = pc.is_in(t_keys, value_set=wanted)
        for key, row in zip(t_keys.filter(keep).to_pylist(), t.filter(keep).to_pylist(), strict=True):
            ex = found.setdefault(key, {"music_id": row["music_id"], "video_id": row["video_id"],
                                        "tags": row["tags"] or [], "texts": {}})
            ex["texts"].setdefault(row["method"], []).append((row["sample"], row["text"]))
    out = []
    for key in keys:
        if key in found:
            ex = found[key]
            ex["texts"] = {m: [text for _, text in sorted(ex["texts"][m])] for m in methods if m in ex["texts"]}
            out.append(ex)
    return out
