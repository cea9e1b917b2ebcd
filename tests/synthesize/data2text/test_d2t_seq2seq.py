"""Seq2SeqRewriter with a tiny BART built from a config and a locally trained WordLevel tokenizer."""
import os
import pickle
import random

import pytest

from pipelines.synthesize.data2text import (
    BuiltinRewriter,
    RewriteLossError,
    Seq2SeqRewriter,
    data2text,
    data2text_many,
    plan,
)
from pipelines.synthesize.tagset import InputTag

ROWS = [
    ["rock", "male vocals", "electric guitar", "angry", "slow"],
    ["jazz", "piano", "saxophone", "relaxing"],
    ["hip-hop", "synth bass", "electronic drumset", "sad", "male vocals", "dance"],
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """A 16-wide model runs ~100x faster on one thread than with thread hand-offs on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory, bank, vocab):
    """A randomly initialised 1-layer BART and a WordLevel tokenizer trained on templated sentences."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    corpus = []
    for i in range(200):
        names = random.Random(i).sample([t.name for t in vocab.tags], 6)
        sentences, _ = plan([InputTag(n) for n in names], random.Random(i), bank, vocab)
        corpus.append(" ".join(s.text for s in sentences))
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<s>", "</s>", "<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")
    config = BartConfig(vocab_size=len(fast), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                        max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                        decoder_start_token_id=2, forced_eos_token_id=2)
    path = tmp_path_factory.mktemp("tiny-bart")
    BartForConditionalGeneration(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def rows_of(vocab):
    return [[InputTag(n, vocab.get(n).category, 0.9) for n in names] for names in ROWS]


def test_random_model_loses_tags_and_falls_back_per_row(tiny_bart, bank, vocab):
    fallback = BuiltinRewriter(bank)
    rw = Seq2SeqRewriter(str(tiny_bart), num_beams=2, max_new_tokens=12, batch_size=2, fallback=fallback)
    rngs = [random.Random(i) for i in range(3)]
    out = data2text_many(rows_of(vocab), rngs, bank, rw, vocab)
    assert len(out) == 3
    for (text, meta), names, i in zip(out, ROWS, range(3), strict=True):
        rewrite = meta["rewrite"]
        assert rewrite["fallback"] is True and rewrite["fallback_rewriter"] == "builtin"
        assert rewrite["lost_tags"] and set(rewrite["lost_tags"]) <= set(names)
        assert isinstance(rewrite["model_output"], str)
        assert meta["rewriter"]["name"] == "seq2seq" and meta["rewriter"]["model"] == str(tiny_bart)
        # the fallback text is what the built-in rewriter writes for this row
        expected, _ = data2text(rows_of(vocab)[i], random.Random(i), bank, fallback, vocab)
        assert text == expected


def test_keep_and_raise_policies(tiny_bart, bank, vocab):
    sentences, _ = plan(rows_of(vocab)[0], random.Random(0), bank, vocab)
    keep = Seq2SeqRewriter(str(tiny_bart), num_beams=1, max_new_tokens=8, on_loss="keep")
    res = keep.rewrite(sentences, random.Random(0))
    assert res.text == res.meta["model_output"] and res.meta["lost_tags"] and res.meta["fallback"] is False
    with pytest.raises(RewriteLossError, match="lost tags"):
        rw = Seq2SeqRewriter(str(tiny_bart), num_beams=1, max_new_tokens=8, on_loss="raise")
        rw.rewrite(sentences, random.Random(0))
    with pytest.raises(ValueError):
        Seq2SeqRewriter(str(tiny_bart), on_loss="ignore")


def test_output_that_keeps_every_tag_is_accepted(tiny_bart, bank, vocab, monkeypatch):
    rw = Seq2SeqRewriter(str(tiny_bart))
    monkeypatch.setattr(rw, "generate", lambda texts: [t.upper() for t in texts])  # a perfect copier
    batch = [plan(r, random.Random(i), bank, vocab)[0] for i, r in enumerate(rows_of(vocab))]
    results = rw.rewrite_many(batch, [random.Random(i) for i in range(3)])
    for res, sentences in zip(results, batch, strict=True):
        assert res.meta["fallback"] is False and "lost_tags" not in res.meta
        assert res.text == " ".join(s.text for s in sentences).upper()


def test_generate_is_batched_and_deterministic(tiny_bart):
    rw = Seq2SeqRewriter(str(tiny_bart), num_beams=2, max_new_tokens=6, batch_size=2)
    texts = ["This is a rock song.", "The song sounds sad.", "There is a piano in this song."]
    a = rw.generate(texts)
    assert len(a) == 3 and rw.generate(texts) == a
    assert rw.generate(texts[:1]) == a[:1]


def test_empty_rows_and_pickling(tiny_bart):
    rw = Seq2SeqRewriter(str(tiny_bart)).load()
    assert rw.rewrite([], random.Random(0)).text == ""
    again = pickle.loads(pickle.dumps(rw))
    assert again._model is None and again.model_name == rw.model_name


def test_the_pipeline_batches_a_model_rewriter_adaptively_and_accounts_for_every_row(tiny_bart, tmp_path):
    """A seq2seq rewriter has no fixed batch size: its rows leave their lists for Beam's BatchElements.
    Every row ends as a text (the model's, or the built-in fallback's) in the triplets."""
    import json

    import pyarrow.parquet as pq

    from pipelines.cli import EXIT_OK, main

    src = tmp_path / "tags.jsonl"
    src.write_text("".join(json.dumps({"music_id": f"m{i}", "tags": ROWS[i % len(ROWS)]}) + "\n" for i in range(40)))
    out = tmp_path / "out"
    assert main(["synthesize", "--log-level", "WARNING", "--input", str(src), "--out", str(out), "--methods",
                 "data2text", "--rewriter", f"hf:{tiny_bart}"]) == EXIT_OK
    summary = json.loads((out / "summary.json").read_text())
    texts = [r for f in summary["_commit"]["files"]["triplets"] for r in pq.read_table(out / f).to_pylist()]
    assert sorted(r["music_id"] for r in texts) == sorted(f"m{i}" for i in range(40))
    assert summary["counts"]["texts"] == 40 and summary["counts"]["adds_up"]
