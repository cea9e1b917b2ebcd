"""The `evaluate-text` metrics per method against human references, through pipelines.evaluate's own
entry points (load_references, evaluate_texts), so the report and `viml-synth evaluate-text` agree."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report import read
from pipelines.report.limits import EVAL_ROWS


def reference_rows(folder: str, refs: dict[str, list[str]], seed: int = 0, limit: int = EVAL_ROWS,
                   only_tracks: pa.Array | None = None, order: list[str] = ()) -> tuple[list[dict], dict]:
    """evaluate_texts rows of the texts whose music_id has a reference (at most `limit` per method),
    methods in `order` first (the run's order), then any other."""
    from pipelines.synthesize.tagset import InputTag

    ids = pa.array(sorted(refs), pa.string())
    samples: dict[str, read.BottomK] = {}
    matched: dict[str, int] = {}
    for t in read.batches(read.files(folder, "triplets"), ["music_id", "video_id", "method", "sample", "text", "tags"]):
        t = t.filter(pc.is_in(t["music_id"], value_set=ids))
        if only_tracks is not None and len(t):
            t = t.filter(pc.is_in(read.track_keys(t), value_set=only_tracks))
        keys = read.track_keys(t).to_pylist() if len(t) else []
        for key, row in zip(keys, t.to_pylist(), strict=True):
            method = row["method"]
            matched[method] = matched.get(method, 0) + 1
            samples.setdefault(method, read.BottomK(limit, seed)).offer(f"{key}{read.KEY_SEP}{row['sample']}", row)
    rows = []
    rank = {m: i for i, m in enumerate(order)}
    for method, sample in sorted(samples.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])):
        for _, row in sample.items():
            rows.append({"text": row["text"] or "", "method": method, "reference": refs[row["music_id"]],
                         "tags": [InputTag(x["tag"], x["category"], x["confidence"]) for x in row["tags"] or []]})
    return rows, {m: {"matched": n, "scored": min(n, limit)} for m, n in matched.items()}


def evaluate_references(folder: str, references: str, id_column: str = "music_id", reference_column=None,
                        embed: bool = True, wordnet_dir=None, seed: int = 0, limit: int = EVAL_ROWS,
                        only_tracks: pa.Array | None = None, vocabulary=None, order: list[str] = ()) -> dict:
    from pipelines.evaluate import wordnet
    from pipelines.evaluate.cli import load_references
    from pipelines.evaluate.text_report import COLUMNS, evaluate_texts

    refs = load_references(references, id_column, reference_column)
    rows, counts = reference_rows(folder, refs, seed, limit, only_tracks, order)
    if not rows:
        raise ValueError(f"--references: no text of {folder} has a reference in {references} "
                         f"(matched on its {id_column} column)")
    try:
        synonyms = wordnet.find(wordnet_dir)
    except wordnet.WordNetUnavailable as exc:
        raise ValueError(f"--wordnet: {exc}") from exc
    report = evaluate_texts(rows, vocabulary, embed=embed, wordnet=synonyms)
    report["rows"] = {m: counts[m] for m in report["methods"]}
    report["columns"] = [[key, header] for key, header, _ in COLUMNS]
    report["references"] = {"path": references, "tracks": len(refs), "id_column": id_column}
    return report
