"""The train / evaluate / ensemble subcommands as the lead's CLI registers them."""
import argparse
import json

import pytest
from conftest import make_dataset

from viml_model.cli import add_ensemble_parser, add_evaluate_parser, add_train_parser, main


def parser():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_ensemble_parser(sub)
    return p


def run(argv):
    args, extra = parser().parse_known_args(argv)
    return args.func(args, extra)


def test_train_evaluate_ensemble_commands(tmp_path, capsys):
    ds = make_dataset(tmp_path, n=24)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("extends: viml.yaml\nmodel: {d_model: 16, n_heads: 2, ff_dim: 32, mlp_hidden: 32, "
                   "video_layers: 1, music_layers: 1, text_layers: 1, fusion: addition}\n"
                   "train: {batch_size: 8, warmup_steps: 0, early_stopping: {patience: 10}}\n")
    common = ["--triplets", str(ds.triplets), "--features", str(ds.features)]
    assert run(["train", "--config", str(cfg), *common, "--out", str(tmp_path / "a"), "--epochs", "1",
                "--seed", "3", "--methods", "tags,prompt2text", "--device", "cpu", "--log-level", "WARNING"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 1
    assert json.loads((tmp_path / "a" / "split.json").read_text())["seed"] == 3

    assert run(["evaluate", "--checkpoint", str(tmp_path / "a"), *common, "--pool-size", "10"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["video_text"]["pool_size"] == 10 and (tmp_path / "a" / "evaluation.json").is_file()

    mvpt = tmp_path / "mvpt.yaml"
    mvpt.write_text(cfg.read_text().replace("extends: viml.yaml", "extends: mvpt.yaml"))
    assert run(["train", "--config", str(mvpt), *common, "--out", str(tmp_path / "b"), "--epochs", "1",
                "--log-level", "WARNING"]) == 0
    capsys.readouterr()
    assert run(["ensemble", "--checkpoints", str(tmp_path / "a"), str(tmp_path / "b"), "--val-triplets",
                str(ds.triplets), "--val-split", str(tmp_path / "a"), *common, "--grid", "0,0.5,1",
                "--out", str(tmp_path / "ens.json")]) == 0
    ens = json.loads(capsys.readouterr().out)
    assert ens["alpha"] in (0.0, 0.5, 1.0) and len(ens["tuning"]["grid"]) == 3
    assert ens["model_kinds"] == ["viml", "mvpt"] and "R@10" in ens["video_text"]


def test_bad_input_raises_value_error_and_main_exits_2(tmp_path, capsys):
    with pytest.raises(ValueError, match="unrecognized arguments: --bogus"):
        run(["evaluate", "--checkpoint", "x", "--triplets", "y", "--features", "z", "--bogus"])
    with pytest.raises(ValueError, match="checkpoint not found"):
        run(["evaluate", "--checkpoint", str(tmp_path / "none"), "--triplets", "y", "--features", "z"])
    assert main(["train", "--config", str(tmp_path / "nope.yaml"), "--triplets", "t", "--features", "f",
                 "--out", str(tmp_path / "o")]) == 2
    assert "config file not found" in capsys.readouterr().err
