"""`viml-synth evaluate-text`: join triplets with human references by id and report per method."""
from __future__ import annotations

import json

import pyarrow.parquet as pq

from pipelines.io.manifest import iter_records
from pipelines.synthesize.tagset import InputTag

REFERENCE_COLUMNS = ("caption", "text", "description", "reference")


def load_references(path: str, id_column: str, column: str | None) -> dict[str, list[str]]:
    refs: dict[str, list[str]] = {}
    for row_no, raw in iter_records(path):
        if isinstance(raw, Exception):
            continue
        col = column or next((c for c in REFERENCE_COLUMNS if c in raw), None)
        if col is None or col not in raw:
            raise ValueError(f"{path}: no reference column ({column or ' / '.join(REFERENCE_COLUMNS)}) in row {row_no}")
        if raw.get(id_column) is None:
            raise ValueError(f"{path}: row {row_no} has no '{id_column}'")
        text = str(raw[col] or "").strip()
        if text:
            refs.setdefault(str(raw[id_column]).strip(), []).append(text)
    if not refs:
        raise ValueError(f"{path}: no reference texts found")
    return refs


def load_triplets(pattern: str) -> list[dict]:
    from pipelines.io.outputs import resolve_inputs

    files = resolve_inputs(pattern)  # committed files only (not those of a run killed mid-commit)
    if not files:
        raise FileNotFoundError(f"no triplets match {pattern}")
    return [r for f in files for r in pq.read_table(f, columns=["music_id", "method", "text", "tags"]).to_pylist()]


def evaluate_text_command(args) -> int:
    from pipelines.evaluate import wordnet
    from pipelines.evaluate.text_report import evaluate_texts, format_table
    from pipelines.tag.vocabulary import Vocabulary

    try:
        reader = wordnet.find(args.wordnet)
    except wordnet.WordNetUnavailable as exc:
        raise ValueError(f"--wordnet: {exc}") from exc

    refs = load_references(args.references, args.id_column, args.reference_column)
    rows, unmatched = [], 0
    for t in load_triplets(args.triplets):
        reference = refs.get(t["music_id"])
        unmatched += reference is None
        rows.append({"text": t["text"], "method": t["method"], "reference": reference,
                     "tags": [InputTag(x["tag"], x["category"], x["confidence"]) for x in t["tags"] or []]})
    report = evaluate_texts(rows, Vocabulary.load(), embed=not args.no_embed, wordnet=reader)
    report["inputs"] = {"triplets": args.triplets, "references": args.references, "rows": len(rows),
                        "rows_without_reference": unmatched}
    print(format_table(report))
    if unmatched:
        print(f"({unmatched} texts had no reference with a matching {args.id_column})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, default=str)
    else:
        print(json.dumps(report, indent=2, default=str))
    return 0
