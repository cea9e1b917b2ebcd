"""Training end to end on tiny planted data: learning, resume, early stopping, errors, baselines."""
import json

import pytest
import torch
from conftest import make_dataset, tiny_config

from viml_model import checkpoint as ckpt
from viml_model.data import MissingFeaturesError
from viml_model.evaluate import evaluate
from viml_model.train import train


def test_training_decreases_loss_and_beats_chance(dataset, tmp_path):
    cfg = tiny_config(train={"epochs": 8})
    summary = train(cfg, dataset.triplets, dataset.features, tmp_path / "run")
    hist = summary["history"]
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    for name in ("last.pt", "best.pt", "metrics.json", "split.json", "config.json", "curves.png"):
        assert (tmp_path / "run" / name).is_file(), name
    result = evaluate(tmp_path / "run", dataset.triplets, dataset.features)
    for key in ("video_only", "video_text"):
        r = result[key]
        assert r["R@5"] > 3 * r["chance_R@5"] and r["median_rank"] < r["chance_median_rank"] / 2, r
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 8 and len(metrics["history"]) == 8


def test_resume_continues_where_it_stopped(dataset, tmp_path):
    cfg = tiny_config(train={"epochs": 4})
    full = train(cfg, dataset.triplets, dataset.features, tmp_path / "full")
    train(cfg, dataset.triplets, dataset.features, tmp_path / "part", epochs=2)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(cfg, dataset.triplets, dataset.features, tmp_path / "part")
    part = train(cfg, dataset.triplets, dataset.features, tmp_path / "part", resume=True)
    assert part["epochs_run"] == 4 and [h["epoch"] for h in part["history"]] == [1, 2, 3, 4]
    a, b = ckpt.load(tmp_path / "full" / "last.pt"), ckpt.load(tmp_path / "part" / "last.pt")
    assert a["epoch"] == b["epoch"] == 4
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert [h["train_loss"] for h in full["history"]] == pytest.approx([h["train_loss"] for h in part["history"]])
    # a changed setting cannot resume silently
    with pytest.raises(ValueError, match="model.fusion"):
        train(tiny_config(model={"fusion": "mlp"}, train={"epochs": 5}), dataset.triplets, dataset.features,
              tmp_path / "part", resume=True)


def test_early_stopping_triggers(dataset, tmp_path):
    cfg = tiny_config(train={"epochs": 20, "lr": 0.0, "early_stopping": {"patience": 2}})
    summary = train(cfg, dataset.triplets, dataset.features, tmp_path / "run")
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 1
    # resuming a stopped run does not train further
    again = train(cfg, dataset.triplets, dataset.features, tmp_path / "run", resume=True)
    assert again["epochs_run"] == 3


def test_missing_features_are_named(tmp_path):
    ds = make_dataset(tmp_path, n=20, drop_music=3)
    with pytest.raises(MissingFeaturesError, match=r"3 music id\(s\).*'m017', 'm018', 'm019'"):
        train(tiny_config(), ds.triplets, ds.features, tmp_path / "run")


def test_evaluate_counts_missing_queries_as_misses(tmp_path):
    good = make_dataset(tmp_path / "a", n=24)
    train(tiny_config(train={"epochs": 1}), good.triplets, good.features, tmp_path / "run")
    holes = make_dataset(tmp_path / "b", n=24, drop_video=2, drop_music=3)  # v022, v023; m021..m023
    result = evaluate(tmp_path / "run", holes.triplets, holes.features, out=tmp_path / "eval.json")
    assert set(result) >= {"video_only", "video_text"}
    for key, n_queries in (("video_only", 24), ("video_text", 48)):
        r = result[key]
        assert set(r) >= {"R@1", "R@5", "R@10", "median_rank", "n_queries", "pool_size",
                          "chance_R@1", "chance_R@5", "chance_R@10", "n_missing"}
        assert r["n_queries"] == n_queries and r["pool_size"] == 21
        # pairs missing their track (v021..v023) or their video (v022, v023 overlap): 3 of 24
        assert r["n_missing"] == n_queries // 24 * 3
        assert r["R@10"] <= 100.0 * (n_queries - r["n_missing"]) / n_queries
        assert r["missing"]["music"] == n_queries // 24 * 3 and r["missing"]["video"] == n_queries // 24 * 2
    assert json.loads((tmp_path / "eval.json").read_text())["video_text"]["n_queries"] == 48


def test_evaluate_pool_size_extends_or_restricts(tmp_path):
    ds = make_dataset(tmp_path, n=24, extra_tracks=10)
    train(tiny_config(train={"epochs": 1}), ds.triplets, ds.features, tmp_path / "run")
    big = evaluate(tmp_path / "run", ds.triplets, ds.features, pool_size=30, write=False)
    assert big["video_text"]["pool_size"] == 30 and big["pool"]["extra_tracks"] == 6
    small = evaluate(tmp_path / "run", ds.triplets, ds.features, pool_size=5, write=False)
    assert small["video_text"]["pool_size"] == 5 and small["video_text"]["chance_R@5"] == 100.0
    with pytest.raises(ValueError, match="only 10 others"):
        evaluate(tmp_path / "run", ds.triplets, ds.features, pool_size=50, write=False)


@pytest.mark.parametrize("name", ["mvpt", "mt"])
def test_baselines_train_and_evaluate_with_the_same_code(name, dataset, tmp_path):
    metric = "video_only.R@10" if name == "mvpt" else "video_text.R@10"
    cfg = tiny_config(model={"kind": name}, train={"epochs": 3, "text_dropout": 0.0,
                                                   "early_stopping": {"metric": metric}})
    train(cfg, dataset.triplets, dataset.features, tmp_path / name)
    r = evaluate(tmp_path / name, dataset.triplets, dataset.features, write=False)
    assert r["model_kind"] == name
    key = "video_only" if name == "mvpt" else "video_text"
    assert r[key]["R@10"] > r[key]["chance_R@10"]
    if name == "mvpt":  # text is ignored: both query types agree
        assert r["video_only"]["R@1"] == r["video_text"]["R@1"]


def test_segment_level_and_methods_filter(dataset, tmp_path):
    cfg = tiny_config(data={"level": "segment", "segment_len": 2, "methods": ["prompt2text"]},
                      train={"epochs": 2})
    summary = train(cfg, dataset.triplets, dataset.features, tmp_path / "seg")
    assert summary["epochs_run"] == 2
    r = evaluate(tmp_path / "seg", dataset.triplets, dataset.features, methods=["prompt2text"], write=False)
    assert r["video_text"]["n_queries"] == 48 and r["methods"] == ["prompt2text"]


def test_evaluate_rejects_features_from_other_encoders(dataset, tmp_path):
    train(tiny_config(train={"epochs": 1}), dataset.triplets, dataset.features, tmp_path / "run")
    enc = json.loads((dataset.features / "encoders.json").read_text())
    enc["video"]["name"] = "another-encoder"
    (dataset.features / "encoders.json").write_text(json.dumps(enc))
    with pytest.raises(ValueError, match="encoders the model was trained on"):
        evaluate(tmp_path / "run", dataset.triplets, dataset.features, write=False)
