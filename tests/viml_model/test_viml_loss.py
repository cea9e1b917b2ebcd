"""InfoNCE on hand examples, temperature, duplicate tracks; text dropout probabilities."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from viml_model.dataset import text_dropout
from viml_model.loss import InfoNCE, info_nce


def test_perfect_alignment_gives_low_loss_and_random_gives_about_log_b():
    x = F.normalize(torch.eye(8), dim=-1)
    assert info_nce(x, x, 0.05).item() < 1e-6
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(64, 128), dim=-1), F.normalize(torch.randn(64, 128), dim=-1)
    assert abs(info_nce(a, b, 1.0).item() - math.log(64)) < 0.1


def test_hand_computed_value_and_temperature_effect():
    # two orthogonal pairs: positive cosine 1, negative 0 -> loss = log(1 + exp(-1/T))
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for t in (1.0, 0.5, 0.1):
        expected = math.log(1 + math.exp(-1 / t))
        assert abs(info_nce(q, q, t).item() - expected) < 1e-6
    # lower temperature sharpens: a correct ranking costs less
    assert info_nce(q, q, 0.1) < info_nce(q, q, 1.0)
    # one-directional loss equals the symmetric one on a symmetric example
    assert abs(info_nce(q, q, 0.5, symmetric=False).item() - info_nce(q, q, 0.5).item()) < 1e-6


def test_same_track_twice_in_a_batch_is_not_a_negative():
    q = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]), dim=-1)
    m = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    plain = info_nce(q, m, 0.1)
    masked = info_nce(q, m, 0.1, keys=torch.tensor([7, 7, 3]))
    assert masked < plain and masked.item() < 0.01


def test_learned_temperature_is_a_parameter():
    fixed, learned = InfoNCE(0.07), InfoNCE(0.07, learn_temperature=True)
    assert len(list(fixed.parameters())) == 0 and len(list(learned.parameters())) == 1
    assert abs(float(fixed.temperature) - 0.07) < 1e-6
    assert abs(float(learned.temperature.detach()) - 0.07) < 1e-6


def test_text_dropout_probabilities():
    rows = np.arange(1, 20001)
    rng = np.random.default_rng(0)
    assert (text_dropout(rows, 0, 1.0, rng) == 0).all()
    assert (text_dropout(rows, 0, 0.0, rng) == rows).all()
    dropped = text_dropout(rows, 0, 0.3, rng)
    share = np.mean(dropped == 0)
    assert abs(share - 0.3) < 0.015  # ~4.6 standard errors
    assert ((dropped == 0) | (dropped == rows)).all()
