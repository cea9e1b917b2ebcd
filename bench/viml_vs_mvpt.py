"""Issue 13's check in one command: ViML and MVPt+ trained on the same generated data with the packaged
configs (viml.yaml, mvpt.yaml), evaluated on held-out tracks with `viml-synth evaluate`'s code.

    .venv/bin/python bench/viml_vs_mvpt.py      # 3,000 train / 500 test tracks, packaged defaults (~30 min)
    .venv/bin/python bench/viml_vs_mvpt.py --bench-set seed=1 --bench-set video_nuisance=2.5   # another data set
    .venv/bin/python bench/viml_vs_mvpt.py --small                # the study's small model (minutes, not hours)

Prints one row per model: video-only R@1/5/10/MR and video+text R@1/5/10/MR (video+text = the test
triplets' human-style texts, worded unlike the training texts; MVPt+ reads no text), the epoch each run
kept, and the target: ViML video-only R@10 within 1 point of MVPt+'s, or better. `--set` changes both
configs alike (to check quickly at a smaller scale; the packaged defaults are the claim). The two
trainings run as two processes with one torch thread each.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = {"ViML": "viml", "MVPt+": "mvpt"}
# --small: the model and schedule of bench/viml_study.py's screening scale (d_model 64; minutes). The packaged
# d_model 256 / ff 2048 model at 3,000 tracks: 30-50 s an epoch per process on one shared CPU core, so both
# 50-epoch runs side by side take 25-40 minutes.
SMALL = {"model.d_model": 64, "model.ff_dim": 256, "model.mlp_hidden": 256, "train.epochs": 20,
         "train.batch_size": 128, "train.warmup_steps": 50, "train.lr": 5.0e-4}
METRICS = ("R@1", "R@5", "R@10", "median_rank")


def sections(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def ensure_data(bench: Path, settings: dict) -> Path:
    from viml_model.synthetic import generate, make_config

    settings = dict(settings)
    seed = settings.pop("seed", 0)
    summary = bench / "synthetic.json"
    want = make_config("default", seed, **settings).to_dict()
    if not (summary.is_file() and json.loads(summary.read_text()).get("config") == want):
        print(f"generating the benchmark into {bench} ...", flush=True)
        generate(bench, preset="default", seed=seed, **settings)
    return bench


def train_and_evaluate(job: dict) -> dict:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from viml_model.config import load_config
    from viml_model.evaluate import evaluate
    from viml_model.train import train

    torch.set_num_threads(1)
    bench, out = Path(job["bench"]), Path(job["out"])
    cfg = load_config(job["config"])
    if job["changes"]:
        cfg = cfg.with_overrides(**sections(job["changes"]))
    if job.get("reuse"):
        kept = previous_run(out, cfg.to_dict(), bench)
        if kept:
            return {"name": job["name"], **kept}
    started = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)  # every invocation trains from scratch
    summary = train(cfg, bench / "train" / "triplets-*.parquet", bench / "features", out)
    seconds = time.perf_counter() - started
    result = evaluate(out, bench / "test" / "triplets-*.parquet", bench / "features", out=out / "eval-test.json")
    return {"name": job["name"], "result": result, "best_epoch": summary["best_epoch"],
            "epochs_run": summary["epochs_run"], "metric": summary["metric"], "train_seconds": round(seconds)}


def previous_run(out: Path, config: dict, bench: Path) -> dict | None:
    """--reuse: a finished run of the same config, evaluated after the data were last generated."""
    files = [out / "config.json", out / "metrics.json", out / "eval-test.json"]
    if not all(f.is_file() for f in files) or json.loads(files[0].read_text()) != json.loads(json.dumps(config)):
        return None
    if files[2].stat().st_mtime < (bench / "synthetic.json").stat().st_mtime:
        return None
    metrics = json.loads(files[1].read_text())
    seconds = sum(h["seconds"] for h in metrics["history"])
    print(f"reusing {out} (same config, evaluated after the data were generated)", flush=True)
    return {"result": json.loads(files[2].read_text()), "best_epoch": metrics["best_epoch"],
            "epochs_run": metrics["epochs_run"], "metric": metrics["metric"], "train_seconds": round(seconds)}


def _cell(metrics: dict) -> str:
    return " / ".join(f"{metrics[m]:.0f}" if m == "median_rank" else f"{metrics[m]:.1f}" for m in METRICS)


def table(rows: list[dict]) -> str:
    head = ["model", "video-only R@1 / R@5 / R@10 / MR", "video+text R@1 / R@5 / R@10 / MR", "kept epoch (criterion)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        r = row["result"]
        lines.append(f"| {row['name']} | {_cell(r['video_only'])} | "
                     f"{_cell(r['video_text']) if row['name'] != 'MVPt+' else '-'} | "
                     f"{row['best_epoch']} of {row['epochs_run']} ({row['metric']}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=ROOT / "out" / "viml-vs-mvpt", help="data and runs folder")
    p.add_argument("--train-tracks", type=int, default=3000)
    p.add_argument("--test-tracks", type=int, default=500)
    p.add_argument("--bench-set", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark setting (viml_model.synthetic.SyntheticConfig), e.g. seed=1")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config change applied to both models (default: none, the packaged configs)")
    p.add_argument("--viml-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config change for ViML only, e.g. the pre-study defaults: model.fusion=transformer2 "
                        "loss.temperature=0.03 train.text_dropout=0.5 model.null_text=encoded "
                        "train.video_only_weight=0 train.early_stopping.metric=video_text.R@10")
    p.add_argument("--small", action="store_true", help="apply SMALL (a smaller model and schedule) to both")
    p.add_argument("--jobs", type=int, default=2, help="trainings at once (one torch thread each)")
    p.add_argument("--reuse", action="store_true",
                   help="keep a model's previous run in --bench when its config is the same (e.g. MVPt+ after a "
                        "ViML-only change); the default trains both from scratch")
    args = p.parse_args(argv)
    from viml_model.config import parse_key_values

    data = {"n_train_tracks": args.train_tracks, "n_test_tracks": args.test_tracks,
            **parse_key_values(args.bench_set, "--bench-set")}
    changes = {**(SMALL if args.small else {}), **parse_key_values(args.set)}
    tag = "packaged" if not changes else "changed"
    bench = ensure_data(args.bench / "data", data)
    viml_changes = parse_key_values(args.viml_set, "--viml-set")
    # one folder per set of ViML changes, so runs of other changes (and their --reuse) stay apart
    viml_suffix = f"-viml-set-{hashlib.sha1(json.dumps(viml_changes, sort_keys=True).encode()).hexdigest()[:8]}" \
        if viml_changes else ""
    jobs = [{"name": name, "config": config, "bench": str(bench),
             "changes": {**changes, **(viml_changes if config == "viml" else {})}, "reuse": args.reuse,
             "out": str(args.bench / f"{config}-{tag}{viml_suffix if config == 'viml' else ''}")}
            for name, config in MODELS.items()]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(train_and_evaluate, jobs))
    viml, mvpt = rows
    gap = viml["result"]["video_only"]["R@10"] - mvpt["result"]["video_only"]["R@10"]
    video_only = viml["result"]["video_only"]
    print(f"\n{args.train_tracks} training / {args.test_tracks} test tracks (pool {video_only['pool_size']}, "
          f"chance R@10 {video_only['chance_R@10']:.1f}); configs: packaged"
          + (f" + {json.dumps(changes)}" if changes else "")
          + (f"; ViML only: {json.dumps(viml_changes)}" if viml_changes else "") + "\n")
    print(table(rows))
    verdict = "met" if gap >= -1.0 else "NOT met"
    print(f"\nViML video-only R@10 minus MVPt+'s: {gap:+.1f} points (target: >= -1.0): {verdict}; "
          f"training {viml['train_seconds']} s / {mvpt['train_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
