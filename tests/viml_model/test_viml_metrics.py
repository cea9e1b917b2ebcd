"""Ranks, recall and median rank on hand-computed score matrices; pools; ensemble weight tuning."""
import numpy as np
import pytest
import torch

from viml_model.ensemble import combine, tune_alpha
from viml_model.metrics import rank_queries, retrieval_metrics

# queries x pool scores; with an identity pool, q @ pool.T is the score matrix itself
S = torch.tensor([
    [0.9, 0.1, 0.2, 0.3],  # gt 0 -> rank 1
    [0.5, 0.4, 0.6, 0.1],  # gt 1 -> rank 3
    [0.2, 0.2, 0.2, 0.9],  # gt 2 -> ties with 0 and 1 count against it: rank 4
    [0.0, 0.0, 0.0, 0.5],  # gt 3 -> rank 1
    [0.3, 0.3, 0.3, 0.3],  # gt -1 -> miss
])
GT = np.array([0, 1, 2, 3, -1])


def test_ranks_by_counting_on_a_hand_matrix():
    ranks = rank_queries(S, torch.eye(4), GT)
    assert ranks.tolist() == [1, 3, 4, 1, 0]
    # tiny chunks give the same result
    assert rank_queries(S, torch.eye(4), GT, budget_bytes=1).tolist() == [1, 3, 4, 1, 0]


def test_recall_and_median_count_misses():
    m = retrieval_metrics(np.array([1, 3, 4, 1, 0]), pool_size=4)
    assert m["R@1"] == pytest.approx(40.0)  # 2 of 5, the miss counts
    assert m["R@5"] == pytest.approx(80.0)
    assert m["median_rank"] == 3.0  # ranks 1, 1, 3, 4, 5 (miss = pool + 1)
    assert m["n_queries"] == 5 and m["n_missing"] == 1 and m["pool_size"] == 4
    assert m["chance_R@1"] == pytest.approx(25.0) and m["chance_R@10"] == pytest.approx(100.0)
    assert retrieval_metrics(np.array([0, 0, 0]), 10)["median_rank"] == 11


def test_fixed_size_pools_per_track():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(300, 16), dim=-1)
    pool = torch.nn.functional.normalize(torch.randn(100, 16), dim=-1)
    gt = np.arange(300) % 100
    full = rank_queries(q, pool, gt)
    win = rank_queries(q, pool, gt, window=10, seed=1)
    assert win.min() >= 1 and win.max() <= 10 and full.max() > 10
    assert (win <= full).all()  # a sub-pool can only rank higher
    # brute force: the window = gt + the next 9 tracks of the seeded permutation
    perm = np.random.default_rng(1).permutation(100)
    pos = np.empty(100, dtype=int)
    pos[perm] = np.arange(100)
    scores = (q @ pool.t()).numpy()
    for i in range(0, 300, 37):
        members = perm[(pos[gt[i]] + np.arange(10)) % 100]
        assert win[i] == np.sum(scores[i, members] >= scores[i, gt[i]])
    assert (rank_queries(q, pool, gt, window=10, seed=1) == win).all()  # seeded


def test_combined_embeddings_give_the_weighted_score():
    torch.manual_seed(0)
    q1, p1, q2, p2 = (torch.randn(4, 3) for _ in range(4))
    q, p = combine(q1, p1, q2, p2, 0.3)
    assert torch.allclose(q @ p.t(), 0.7 * (q1 @ p1.t()) + 0.3 * (q2 @ p2.t()), atol=1e-6)


def test_alpha_tuning_finds_the_planted_weight():
    """Score matrices (identity pools) built so only 0.25 < a < 0.35 ranks every query first."""
    # every query: true track scores 0.5 in both models. Type A queries have a distractor scoring
    # 2/3 in model 1 (wins unless a > 0.25) and one scoring 1/0.35 * 0.5 in model 2 (wins unless
    # a < 0.35); type B queries only the first, type C only the second.
    c1, c2 = 0.5 / 0.75, 0.5 / 0.35
    s1 = torch.tensor([[0.5, c1, 0.0], [0.5, c1, 0.0], [0.5, 0.0, 0.0]])
    s2 = torch.tensor([[0.5, 0.0, c2], [0.5, 0.0, 0.0], [0.5, 0.0, c2]])
    gt = np.array([0, 0, 0])
    eye = torch.eye(3)
    alpha, table = tune_alpha(s1, eye, s2, eye, gt, grid=np.linspace(0, 1, 21), metric="R@1")
    assert alpha == pytest.approx(0.30)
    assert max(r["R@1"] for r in table) == pytest.approx(100.0)
    assert [r["alpha"] for r in table if r["R@1"] == 100.0] == [pytest.approx(0.30)]
