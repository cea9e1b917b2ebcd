"""Evaluation of synthesized texts: reference metrics (BLEU and METEOR from NLTK, ROUGE-L from rouge-score,
embedding similarity), diversity (distinct-n, vocabulary size, length) and tag fidelity, per synthesis method."""
from pipelines.evaluate.text_metrics import (
    corpus_bleu,
    distinct_n,
    embedding_similarities,
    embedding_similarity,
    mean_length,
    meteor,
    rouge_l,
    tag_fidelity_summary,
    tokenize,
    vocabulary_size,
)

__all__ = [
    "corpus_bleu",
    "distinct_n",
    "embedding_similarities",
    "embedding_similarity",
    "mean_length",
    "meteor",
    "rouge_l",
    "tag_fidelity_summary",
    "tokenize",
    "vocabulary_size",
]
