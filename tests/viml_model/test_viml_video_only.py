"""What the issue-13 study varies: text dropout per batch, a learned NULL text, the video-only loss term,
a residual fusion path, and model selection that sees both query kinds."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_config

from viml_model import checkpoint as ckpt
from viml_model.config import ConfigError, ModelConfig, from_dict
from viml_model.dataset import PairSet, draw_epoch
from viml_model.evaluate import evaluate
from viml_model.metrics import retrieval_metrics
from viml_model.model import ViML
from viml_model.train import _improved, _metric, train

DIMS = {"video": 12, "music": 10, "text": 8}


def pairs(n: int) -> PairSet:
    rows = np.arange(n, dtype=np.int64)
    ids = np.array([f"x{i}" for i in range(n)], dtype=object)
    return PairSet(ids, ids, rows, rows, np.arange(n + 1, dtype=np.int64), rows + 1)


def test_batch_text_dropout_drops_whole_batches():
    p = pairs(100)
    draws = draw_epoch(p, seed=0, epoch=1, p_drop=0.5, null_row=0, segment=False, mode="batch", batch_size=10)
    per_batch = [draws.text_rows[draws.order[a:a + 10]] for a in range(0, 100, 10)]
    dropped = [bool((b == 0).all()) for b in per_batch]
    assert all((b == 0).all() or (b != 0).all() for b in per_batch)
    assert 0 < sum(dropped) < 10
    sample = draw_epoch(p, seed=0, epoch=1, p_drop=0.5, null_row=0, segment=False)
    mixed = [b for b in (sample.text_rows[sample.order[a:a + 10]] for a in range(0, 100, 10))
             if (b == 0).any() and (b != 0).any()]
    assert mixed  # per sample, batches mix both kinds


def small(**kw) -> ModelConfig:
    return replace(ModelConfig(d_model=16, n_heads=2, ff_dim=32, mlp_hidden=32, video_layers=1, music_layers=1,
                               text_layers=1, max_video_len=8, max_music_len=8, dropout=0.0, null_text="encoded"), **kw)


def test_learned_null_replaces_only_null_texts():
    model = ViML(small(null_text="learned"), DIMS).eval()
    text = torch.randn(3, 8)
    is_null = torch.tensor([True, False, True])
    with torch.no_grad():
        model.null_text.copy_(torch.full((8,), 5.0))
        y = model.encode_text(text, is_null)
        assert torch.allclose(y[0], y[2])
        assert torch.allclose(y[0], model.encode_text(torch.full((1, 8), 5.0))[0], atol=1e-5)
        assert torch.allclose(y[1], model.encode_text(text[1:2])[0], atol=1e-5)
    assert ViML(small(), DIMS).null_text is None  # encoded (the paper's) keeps g^t("")


def test_zero_null_makes_the_addition_video_only_query_the_video_embedding(dataset):
    """null_text: zero -> a NULL-text query with addition fusion is f^v's output alone (the MVPt+ query),
    in the model and in the batched evaluation path; texts and the paper's encoded NULL are unchanged."""
    from viml_model.data import FeatureStore
    from viml_model.embed import embed_queries

    store = FeatureStore.load(dataset.features)
    model = ViML(small(fusion="addition", null_text="zero"), store.dims()).eval()
    paper = ViML(small(fusion="addition"), store.dims()).eval()
    paper.load_state_dict(model.state_dict())
    x, lengths = store.video.batch(np.arange(4), 8)
    video, pad = torch.from_numpy(x), torch.from_numpy(np.arange(x.shape[1])[None, :] >= lengths[:, None])
    text = torch.randn(4, 8)
    is_null = torch.tensor([True, False, True, False])
    with torch.no_grad():
        yv = torch.nn.functional.normalize(model.encode_video(video, pad)[0], dim=-1)
        q = model.encode_query(video, pad, text, is_null)
        q_paper = paper.encode_query(video, pad, text, is_null)
        assert torch.allclose(q[is_null], yv[is_null], atol=1e-6)
        assert torch.allclose(q[~is_null], q_paper[~is_null], atol=1e-6)
        assert not torch.allclose(q_paper[is_null], yv[is_null], atol=1e-3)
    null = store.null_text_index()
    fast = embed_queries(model, store, np.arange(4), np.full(4, null), batch_size=3, device=torch.device("cpu"))
    assert torch.allclose(fast, yv, atol=1e-5)


def test_residual_fusion_passes_the_video_embedding():
    model = ViML(small(fusion="linear", fusion_residual=True), DIMS).eval()
    with torch.no_grad():
        model.fusion.inner.proj.weight.zero_()
        model.fusion.inner.proj.bias.zero_()
    yv, yt = torch.randn(4, 16), torch.randn(4, 16)
    assert torch.allclose(model.fusion(yv, yt), yv)


def test_forward_with_null_text_gives_the_video_only_query():
    model = ViML(small(), DIMS).eval()
    batch = {"video": torch.randn(4, 5, 12), "text": torch.randn(4, 8), "music": torch.randn(4, 3, 10)}
    null = torch.randn(1, 8)
    q, m, q_null = model(batch, null)
    expect = model.encode_query(batch["video"], None, null.expand(4, -1))
    assert torch.allclose(q_null, expect, atol=1e-6) and torch.allclose(q, model(batch)[0], atol=1e-6)


def test_video_only_loss_and_learned_null_train_end_to_end(dataset, tmp_path):
    cfg = tiny_config(model={"null_text": "learned"}, train={"epochs": 2, "video_only_weight": 1.0,
                                                             "text_dropout_mode": "batch"})
    summary = train(cfg, dataset.triplets, dataset.features, tmp_path / "run")
    assert summary["epochs_run"] == 2
    state = ckpt.load(tmp_path / "run")
    start = torch.tensor([0.01] * 8)  # the test data's g^t("")
    assert not torch.allclose(state["model"]["null_text"], start)  # the NULL vector was trained
    r = evaluate(tmp_path / "run", dataset.triplets, dataset.features, write=False)
    assert r["video_only"]["R@10"] > r["video_only"]["chance_R@10"]


def test_selection_on_both_query_kinds():
    val = {"video_only": {"R@10": 40.0, "mean_rank": 30.0}, "video_text": {"R@10": 100.0, "mean_rank": 2.0}}
    assert _metric(val, "mean.R@10") == 70.0 and _metric(val, "mean.mean_rank") == 16.0
    assert _metric(val, "val_loss", 1.5) == 1.5
    assert _improved(15.0, 16.0, "mean.mean_rank", 0.0) and not _improved(17.0, 16.0, "mean.mean_rank", 0.0)
    assert _improved(1.0, 1.5, "val_loss", 0.0)
    assert retrieval_metrics(np.array([1, 3, 0]), 10)["mean_rank"] == pytest.approx((1 + 3 + 11) / 3)


def test_new_keys_are_validated():
    with pytest.raises(ConfigError, match="text_dropout_mode"):
        from_dict({"train": {"text_dropout_mode": "epoch"}})
    with pytest.raises(ConfigError, match="video_only_weight"):
        from_dict({"train": {"video_only_weight": -1}})
    with pytest.raises(ConfigError, match="null_text"):
        from_dict({"model": {"null_text": "random"}})
    with pytest.raises(ConfigError, match="early_stopping.metric"):
        from_dict({"train": {"early_stopping": {"metric": "mean.R@20"}}})
    assert from_dict({"train": {"early_stopping": {"metric": "mean.mean_rank"}}}).train.early_stopping.metric
