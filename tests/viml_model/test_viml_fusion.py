"""The five fusion variants: shapes, and parameter counts in the relations of the supplement's Table 1."""
from dataclasses import replace

import pytest
import torch

from viml_model.config import FUSIONS, ModelConfig
from viml_model.fusion import build_fusion
from viml_model.model import ViML, count_parameters

DIMS = {"video": 12, "music": 10, "text": 8}


def small(**kw) -> ModelConfig:
    return replace(ModelConfig(d_model=32, n_heads=2, ff_dim=64, mlp_hidden=64, video_layers=1,
                               music_layers=1, text_layers=1, max_video_len=8, max_music_len=8), **kw)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("tokens", ["pooled", "sequence"])
def test_forward_shapes_and_unit_norm(fusion, tokens):
    model = ViML(small(fusion=fusion, fusion_tokens=tokens), DIMS).eval()
    video, text, music = torch.randn(5, 7, 12), torch.randn(5, 8), torch.randn(5, 4, 10)
    pad = torch.zeros(5, 7, dtype=torch.bool)
    pad[0, 3:] = True
    q, m = model({"video": video, "video_mask": pad, "text": text, "music": music})
    assert q.shape == (5, 32) and m.shape == (5, 32)
    assert torch.allclose(q.norm(dim=-1), torch.ones(5), atol=1e-5)
    assert torch.allclose(m.norm(dim=-1), torch.ones(5), atol=1e-5)
    # padding really is ignored: changing padded frames does not change the query
    video2 = video.clone()
    video2[0, 3:] = 100.0
    q2 = model.encode_query(video2, pad, text)
    assert torch.allclose(q[0], q2[0], atol=1e-5)


def test_parameter_counts_relations():
    n = {f: count_parameters(ViML(small(fusion=f), DIMS).fusion) for f in FUSIONS}
    d = 32
    assert n["addition"] == 0
    assert n["linear"] == 2 * d * d + d
    assert n["linear"] < n["transformer1"] < n["transformer2"]
    assert n["mlp"] == 2 * d * 64 + 64 + 64 * d + d
    assert n["transformer2"] - n["transformer1"] == n["transformer1"] - 2 * d - 2 * d  # one layer more


def test_paper_sized_fusion_counts_match_the_supplement():
    """d=256, ff=2048 reproduces Table 1's 131K (linear) and 1.6M (MLP); Transformer 1.3M/2.6M vs 1.4M/2.8M."""
    def count(name):
        return count_parameters(build_fusion(name, 256, 4, 2048, 0.1, 2048))

    assert round(count("linear") / 1e3) == 131
    assert round(count("mlp") / 1e5) == 16
    assert 1.25e6 < count("transformer1") < 1.45e6
    assert 2.5e6 < count("transformer2") < 2.9e6


def test_baselines_have_no_fusion_and_skip_the_unused_modality():
    mvpt = ViML(small(kind="mvpt"), DIMS)
    mt = ViML(small(kind="mt"), DIMS)
    assert mvpt.fusion is None and mvpt.text is None and mvpt.video is not None
    assert mt.fusion is None and mt.video is None and mt.text is not None
    q = mt.encode_query(None, None, torch.randn(3, 8))
    assert q.shape == (3, 32)
    q = mvpt.encode_query(torch.randn(3, 5, 12), None, None)
    assert q.shape == (3, 32)


def test_cls_pooling():
    model = ViML(small(pooling="cls"), DIMS).eval()
    q = model.encode_query(torch.randn(2, 8, 12), None, torch.randn(2, 8))
    assert q.shape == (2, 32)


@pytest.mark.parametrize("kind,tokens",
                         [("viml", "pooled"), ("viml", "sequence"), ("mvpt", "pooled"), ("mt", "pooled")])
def test_batched_query_embedding_matches_one_by_one(kind, tokens, dataset):
    """embed_queries encodes each distinct video/text once; the result equals encoding every query."""
    import numpy as np

    from viml_model.data import FeatureStore
    from viml_model.embed import embed_queries

    store = FeatureStore.load(dataset.features)
    model = ViML(small(kind=kind, fusion_tokens=tokens), store.dims()).eval()
    rng = np.random.default_rng(0)
    v = rng.integers(0, len(store.video), 30)
    t = rng.integers(0, len(store.text), 30)
    fast = embed_queries(model, store, v, t, batch_size=7, device=torch.device("cpu"))
    for i in (0, 11, 29):
        x, _ = store.video.batch(v[i:i + 1], 8)
        one = model.encode_query(torch.from_numpy(x), None, torch.from_numpy(store.text.batch(t[i:i + 1])))
        assert torch.allclose(fast[i], one[0], atol=1e-5)
