"""The ViML benchmark scripts: viml_vs_mvpt.py --reuse, viml_study.py settings."""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from viml_vs_mvpt import previous_run  # noqa: E402


def _run(tmp_path: Path, config: dict) -> tuple[Path, Path]:
    bench, out = tmp_path / "data", tmp_path / "run"
    bench.mkdir()
    out.mkdir()
    (bench / "synthetic.json").write_text("{}")
    (out / "config.json").write_text(json.dumps(config))
    (out / "metrics.json").write_text(json.dumps({"best_epoch": 3, "epochs_run": 5, "metric": "video_only.R@10",
                                                  "history": [{"seconds": 2.0}] * 5}))
    (out / "eval-test.json").write_text(json.dumps({"video_only": {"R@10": 40.0}}))
    return bench, out


def test_reuse_only_the_same_config_evaluated_after_the_data(tmp_path):
    config = {"model": {"kind": "mvpt"}, "train": {"early_stopping": {"metric": "video_only.R@10"}}}
    bench, out = _run(tmp_path, config)
    kept = previous_run(out, config, bench)
    assert kept["result"]["video_only"]["R@10"] == 40.0 and kept["best_epoch"] == 3 and kept["train_seconds"] == 10
    assert previous_run(out, {**config, "model": {"kind": "viml"}}, bench) is None  # another config: retrain
    stamp = (out / "eval-test.json").stat().st_mtime
    os.utime(bench / "synthetic.json", (stamp + 10, stamp + 10))  # data regenerated after the run
    assert previous_run(out, config, bench) is None
    assert previous_run(tmp_path / "missing", config, bench) is None


def test_study_settings_train_what_their_names_say():
    """Every ViML setting of bench/viml_study.py names what it changes (p, T, fusion, NULL text, video-only
    loss): the config must hold exactly that, whatever viml.yaml's defaults are (a setting that inherits a
    default silently changes meaning when the default does)."""
    import viml_study

    for name, (kind, _) in viml_study.SETTINGS.items():
        cfg = viml_study.run_config(name, "screen", 0)
        if kind == "viml":
            assert cfg.train.text_dropout == float(name.split("p=")[1].split()[0]), name
            assert cfg.loss.temperature == (0.1 if "T=0.1" in name else 0.2 if "T=0.2" in name else
                                            cfg.loss.temperature if "learned T" in name else 0.03), name
            assert cfg.model.fusion == ("addition" if "addition" in name else "transformer2"), name
            assert cfg.model.null_text == ("zero" if "zero NULL" in name else "learned" if "learned NULL" in name
                                           else "encoded"), name
            assert cfg.train.video_only_weight == (1.0 if "video-only loss 1" in name else 0.0), name
