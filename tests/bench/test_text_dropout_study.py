"""bench/text_dropout_study.py, which `make demo` runs: a rerun trains afresh."""
import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _study():
    spec = importlib.util.spec_from_file_location("text_dropout_study", ROOT / "bench" / "text_dropout_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_rerun_does_not_train_on_top_of_the_previous_checkpoint(tmp_path, monkeypatch):
    """`make demo` twice stopped at its study: the trainer refuses an out folder that already holds a
    checkpoint ("resume it or choose another out_dir"). The study owns its run folders and clears them."""
    study = _study()
    seen = []
    monkeypatch.setattr(study, "run", lambda cmd, log, dry_run, threads=None: seen.append(
        sorted(p.name for p in Path(cmd[cmd.index("--out") + 1]).glob("*"))) or "")
    run_dir = tmp_path / "p0-seed0"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "last.pt").write_bytes(b"a checkpoint of the previous run")
    args = argparse.Namespace(launcher="auto", dry_run=False, threads=1, reuse_runs=False)
    runner = study.Runner(args, tmp_path / "bench", tmp_path, {}, {}, {})
    runner.train(run_dir / "config.yaml", run_dir, 0)
    assert seen == [[]]  # the trainer found an empty out folder
