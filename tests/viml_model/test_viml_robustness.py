"""Bad inputs to train/evaluate stop with a message naming the file and what is wrong (issue 8 §1, §11)."""
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import make_dataset, tiny_config, write_triplets

from viml_model import checkpoint as ckpt
from viml_model.cli import main
from viml_model.evaluate import evaluate
from viml_model.train import train


def poison_video(features, video_id: str, value: float) -> str:
    """Set one value of `video_id`'s features to `value` in whichever video file holds it; returns the file."""
    for path in sorted(features.glob("video-*.parquet")):
        table = pq.read_table(path)
        ids = table.column("video_id").to_pylist()
        if video_id not in ids:
            continue
        feats = table.column("features").to_pylist()
        feats[ids.index(video_id)][0][0] = value
        table = table.set_column(table.schema.get_field_index("features"), "features",
                                 pa.array(feats, type=table.schema.field("features").type))
        pq.write_table(table, path)
        return path.name
    raise AssertionError(video_id)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_train_stops_on_non_finite_features_naming_file_and_ids(tmp_path, value, capsys):
    ds = make_dataset(tmp_path, n=24)
    name = poison_video(ds.features, "v005", value)
    with pytest.raises(ValueError, match=rf"{name}.*non-finite.*'v005'"):
        train(tiny_config(), ds.triplets, ds.features, tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()
    code = main(["train", "--config", "viml", "--triplets", str(ds.triplets), "--features", str(ds.features),
                 "--out", str(tmp_path / "cli"), "--epochs", "1"])
    assert code == 2 and "v005" in capsys.readouterr().err


def test_skip_nonfinite_trains_without_them_and_reports_them(tmp_path, capsys):
    ds = make_dataset(tmp_path, n=24)
    poison_video(ds.features, "v005", float("nan"))
    summary = train(tiny_config(train={"epochs": 1}), ds.triplets, ds.features, tmp_path / "run",
                    skip_nonfinite=True)
    assert summary["skipped_nonfinite"] == {"video": ["v005"]}
    assert all(math.isfinite(h["train_loss"]) for h in summary["history"])
    with pytest.raises(ValueError, match="'v005'"):
        evaluate(tmp_path / "run", ds.triplets, ds.features, write=False)
    result = evaluate(tmp_path / "run", ds.triplets, ds.features, write=False, skip_nonfinite=True)
    assert result["skipped_nonfinite"] == {"video": ["v005"]}
    assert result["video_only"]["missing"]["video"] == 1  # the query stays in the averages as a miss
    code = main(["evaluate", "--checkpoint", str(tmp_path / "run"), "--triplets", str(ds.triplets),
                 "--features", str(ds.features), "--skip-nonfinite", "--out", str(tmp_path / "e.json")])
    assert code == 0 and "v005" in capsys.readouterr().err


def overflow_videos(features) -> None:
    """Finite features whose projection overflows float32 (no input LayerNorm): the loss becomes NaN."""
    for path in sorted(features.glob("video-*.parquet")):
        table = pq.read_table(path)
        feats = [[[3.0e38 * (-1) ** k for k in range(len(v))] for v in seq]
                 for seq in table.column("features").to_pylist()]
        table = table.set_column(table.schema.get_field_index("features"), "features",
                                 pa.array(feats, type=table.schema.field("features").type))
        pq.write_table(table, path)


def test_non_finite_loss_stops_and_keeps_the_finite_checkpoint(tmp_path, capsys):
    ds = make_dataset(tmp_path, n=24)
    cfg = tiny_config(model={"input_norm": False}, train={"epochs": 1})
    train(cfg, ds.triplets, ds.features, tmp_path / "run")
    before = {n: (tmp_path / "run" / n).read_bytes() for n in ("last.pt", "best.pt")}
    overflow_videos(ds.features)
    code = main(["train", "--config", str(write_yaml(tmp_path, cfg)), "--triplets", str(ds.triplets),
                 "--features", str(ds.features), "--out", str(tmp_path / "run"), "--resume", "--epochs", "2"])
    err = capsys.readouterr().err
    assert code != 0 and "loss is nan at epoch 2" in err
    for n, data in before.items():
        assert (tmp_path / "run" / n).read_bytes() == data, n
    state = ckpt.load(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def write_yaml(tmp_path, cfg):
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def test_empty_triplets_file_is_named(tmp_path):
    ds = make_dataset(tmp_path, n=12)
    empty = tmp_path / "empty" / "triplets-00000.parquet"
    write_triplets(empty, [])
    with pytest.raises(ValueError, match=rf"{empty.name}.*no rows"):
        train(tiny_config(), empty, ds.features, tmp_path / "run")


@pytest.mark.parametrize("content, reason", [(b"", r"empty \(0 bytes\)"),
                                             (b"not a checkpoint at all\n", "not a PyTorch file")])
def test_broken_checkpoint_gives_a_clear_reason(tmp_path, content, reason):
    (tmp_path / "best.pt").write_bytes(content)
    with pytest.raises(ValueError, match=rf"best.pt.*{reason}"):
        ckpt.load(tmp_path)


def test_progress_bar_only_on_a_terminal(dataset, tmp_path, monkeypatch):
    import io
    import sys

    class Tty(io.StringIO):
        def isatty(self):
            return True

    fake = Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    train(tiny_config(train={"epochs": 1}), dataset.triplets, dataset.features, tmp_path / "tty")
    assert "epoch 1" in fake.getvalue() and "batch" in fake.getvalue()
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    train(tiny_config(train={"epochs": 1}), dataset.triplets, dataset.features, tmp_path / "pipe")
    assert "batch" not in plain.getvalue()
