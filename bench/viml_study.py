"""Issue 13: why ViML's video-only retrieval trails MVPt+, measured on the synthetic benchmark.

    .venv/bin/python bench/viml_study.py --scale screen --data base --seeds 0 1 2 --jobs 2 [--settings a,b]
    .venv/bin/python bench/viml_study.py --report      # tables from every run recorded so far

Each run trains one setting (a ViML or MVPt+ config change, SETTINGS below) on one benchmark (DATASETS:
the project's generator as it is, and a variant with another structure) at one scale (SCALES: a small
fast model for screening, the issue's 3,000 training tracks for confirmation), with early stopping
effectively off (patience = epochs). After every epoch it records the validation metrics of both query
kinds (what the trainer sees) and the test metrics (for analysis only). Model selection and early
stopping are then replayed from the validation curve for each criterion in CRITERIA, exactly as the
trainer would decide (viml_model.train._improved): the test metrics reported for a criterion are those
of the epoch it would have kept. Nothing is chosen on test metrics.

Runs append to RUNS/runs.jsonl (an interrupted study keeps what it finished; --report rebuilds the
tables). Two processes at most, one torch thread each (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Benchmarks: never tune to one data set. `variant` changes what video reveals (genre clearer, mood
# weaker, instruments faintly visible), the noise, the number and kind of training texts, the test
# texts' error rate, and the seed.
DATASETS = {
    "base": {"seed": 0},
    "variant": {"seed": 1, "video_weights": {"genre": 0.5, "mood": 0.35, "instrument": 0.15},
                "video_nuisance": 2.5, "video_scene": 1.0, "train_texts_per_video": 2, "train_omit_rate": 0.2,
                "test_error_rate": 0.25, "test_keep": {"genre": 0.7, "mood": 0.5, "instrument": 0.4}},
}

# Scales: benchmark size and the model/schedule trained on it (the packaged config + these changes).
SCALES = {
    "screen": {"bench": {"n_train_tracks": 1000, "n_test_tracks": 300},
               "config": {"model.d_model": 64, "model.ff_dim": 256, "model.mlp_hidden": 256, "train.epochs": 20,
                          "train.batch_size": 128, "train.warmup_steps": 50, "train.lr": 5.0e-4}},
    "issue": {"bench": {"n_train_tracks": 3000, "n_test_tracks": 500},
              "config": {"model.d_model": 128, "model.ff_dim": 512, "model.mlp_hidden": 512, "train.epochs": 30,
                         "train.batch_size": 128, "train.warmup_steps": 100, "train.lr": 5.0e-4}},
}

# The pre-study defaults every ViML setting starts from, pinned so a setting means what its name says
# whatever viml.yaml holds now (the study changed fusion, temperature, p, the NULL text, the video-only
# loss and the selection metric).
PAPER_VIML = {"model.fusion": "transformer2", "loss.temperature": 0.03, "train.text_dropout": 0.5,
              "model.null_text": "encoded", "train.video_only_weight": 0.0,
              "train.early_stopping.metric": "video_text.R@10"}

ADDITION = {"loss.temperature": 0.1, "model.fusion": "addition"}

# Settings: changes to PAPER_VIML (ViML) or the packaged mvpt.yaml (dotted keys), on top of the scale's.
SETTINGS = {
    "viml p=0.5 (paper)": ("viml", {}),
    "viml p=0.25": ("viml", {"train.text_dropout": 0.25}),
    "viml p=0.75": ("viml", {"train.text_dropout": 0.75}),
    "viml p=0.5 per batch": ("viml", {"train.text_dropout_mode": "batch"}),
    "viml p=0.5 learned NULL": ("viml", {"model.null_text": "learned"}),
    "viml p=0.5 residual fusion": ("viml", {"model.fusion_residual": True}),
    "viml p=0.5 T=0.1": ("viml", {"loss.temperature": 0.1}),
    "viml p=0.5 T=0.2": ("viml", {"loss.temperature": 0.2}),
    "viml p=0.5 T=0.1 addition fusion": ("viml", {"loss.temperature": 0.1, "model.fusion": "addition"}),
    "viml p=0.75 T=0.1 addition fusion": ("viml", {"train.text_dropout": 0.75, "loss.temperature": 0.1,
                                                   "model.fusion": "addition"}),
    "viml p=1 T=0.1 addition fusion (never sees text)": ("viml", {"train.text_dropout": 1.0, "loss.temperature": 0.1,
                                                                  "model.fusion": "addition"}),
    "viml p=0.75 T=0.1": ("viml", {"train.text_dropout": 0.75, "loss.temperature": 0.1}),
    "viml p=1 T=0.1 (never sees text)": ("viml", {"train.text_dropout": 1.0, "loss.temperature": 0.1}),
    "viml p=0.5 learned T": ("viml", {"loss.learn_temperature": True}),
    "viml p=0 + video-only loss 1": ("viml", {"train.text_dropout": 0.0, "train.video_only_weight": 1.0}),
    "viml p=0.25 + video-only loss 1": ("viml", {"train.text_dropout": 0.25, "train.video_only_weight": 1.0}),
    "viml p=0.5 + video-only loss 1": ("viml", {"train.video_only_weight": 1.0}),
    "viml p=0.5 + video-only loss 1, T=0.1": ("viml", {"train.video_only_weight": 1.0, "loss.temperature": 0.1}),
    "viml p=0.25 + video-only loss 1, T=0.1": ("viml", {"train.text_dropout": 0.25, "train.video_only_weight": 1.0,
                                                        "loss.temperature": 0.1}),
    # on top of the packaged defaults (addition fusion, T = 0.1): what closes the last points on `base`
    "viml p=0.75 T=0.1 addition fusion, zero NULL": ("viml", {**ADDITION, "train.text_dropout": 0.75,
                                                               "model.null_text": "zero"}),
    "viml p=0.5 T=0.1 addition fusion, zero NULL": ("viml", {**ADDITION, "model.null_text": "zero"}),
    "viml p=0.5 T=0.1 addition fusion + video-only loss 1": ("viml", {**ADDITION, "train.video_only_weight": 1.0}),
    "viml p=0.75 T=0.1 addition fusion + video-only loss 1": ("viml", {**ADDITION, "train.text_dropout": 0.75,
                                                                       "train.video_only_weight": 1.0}),
    "viml p=0.5 T=0.1 addition fusion, zero NULL + video-only loss 1": (
        "viml", {**ADDITION, "model.null_text": "zero", "train.video_only_weight": 1.0}),
    "viml p=0.25 T=0.1 addition fusion, zero NULL + video-only loss 1": (
        "viml", {**ADDITION, "train.text_dropout": 0.25, "model.null_text": "zero", "train.video_only_weight": 1.0}),
    "viml p=0 T=0.1 addition fusion, zero NULL + video-only loss 1": (
        "viml", {**ADDITION, "train.text_dropout": 0.0, "model.null_text": "zero", "train.video_only_weight": 1.0}),
    "viml p=0.75 T=0.1 addition fusion, zero NULL + video-only loss 1": (
        "viml", {**ADDITION, "train.text_dropout": 0.75, "model.null_text": "zero", "train.video_only_weight": 1.0}),
    "viml p=0.75 T=0.1 addition fusion, learned NULL": ("viml", {**ADDITION, "train.text_dropout": 0.75,
                                                                  "model.null_text": "learned"}),
    "viml p=0.75 T=0.1 addition fusion, per batch": ("viml", {**ADDITION, "train.text_dropout": 0.75,
                                                               "train.text_dropout_mode": "batch"}),
    "mvpt T=0.01": ("mvpt", {"loss.temperature": 0.01}),
    "mvpt T=0.03": ("mvpt", {"loss.temperature": 0.03}),
    "mvpt T=0.1": ("mvpt", {"loss.temperature": 0.1}),
    "mvpt T=0.2": ("mvpt", {"loss.temperature": 0.2}),
}

# Model-selection criteria replayed on each run's validation curve (patience as in viml.yaml).
CRITERIA = ("video_text.R@10", "video_only.R@10", "mean.R@10", "mean.mean_rank", "val_loss", "last")
REPLAY_PATIENCE = 5  # viml.yaml's train.early_stopping.patience
QUERY_KINDS = ("video_only", "video_text")
METRICS = ("R@1", "R@5", "R@10", "median_rank")


# ------------------------------------------------------------------------------------------ one run


def dotted_to_sections(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def bench_dir(root: Path, scale: str, data: str) -> Path:
    return root / f"bench-{data}-{scale}"


def ensure_benchmark(root: Path, scale: str, data: str) -> Path:
    from viml_model.synthetic import generate, make_config

    out = bench_dir(root, scale, data)
    settings = {**DATASETS[data], **SCALES[scale]["bench"]}
    seed = settings.pop("seed")
    want = make_config("default", seed, **settings).to_dict()
    summary = out / "synthetic.json"
    if summary.is_file() and json.loads(summary.read_text()).get("config") == want:
        return out
    print(f"generating {out.name} ...", flush=True)
    generate(out, preset="default", seed=seed, **settings)
    return out


def run_config(setting: str, scale: str, seed: int):
    from viml_model.config import load_config

    kind, changes = SETTINGS[setting]
    base = PAPER_VIML if kind == "viml" else {}
    flat = {**base, **SCALES[scale]["config"], **changes, "train.seed": seed}
    flat["train.early_stopping.patience"] = flat["train.epochs"]  # replayed afterwards, per criterion
    return load_config(kind).with_overrides(**dotted_to_sections(flat))


def test_evaluator(bench: Path):
    """on_epoch callback: test metrics (human-style and tags texts) of the model after each epoch."""
    import torch

    from viml_model.data import FeatureStore, read_triplets
    from viml_model.evaluate import build_task, embed_task, score

    tasks = {}
    for name in ("test", "test_tags"):
        trip = read_triplets(str(bench / name / "triplets-*.parquet"))
        store = FeatureStore.load(bench / "features", video_ids=set(trip.video_id), music_ids=set(trip.music_id),
                                  texts=set(trip.text))
        tasks[name] = (store, build_task(trip, store))
    curve: list[dict] = []

    def on_epoch(epoch: int, model) -> None:
        row = {"epoch": epoch}
        for name, (store, task) in tasks.items():
            emb = embed_task(model, store, task, 1024, torch.device("cpu"))
            res = score(emb, task)
            row[name] = {q: {m: res[q][m] for m in METRICS} for q in QUERY_KINDS}
        curve.append(row)

    return on_epoch, curve


def run_one(job: dict) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from viml_model.train import train

    torch.set_num_threads(1)
    bench = Path(job["bench"])
    cfg = run_config(job["setting"], job["scale"], job["seed"])
    on_epoch, test_curve = test_evaluator(bench)
    out = Path(job["out"])
    shutil.rmtree(out, ignore_errors=True)  # a run killed half-way is redone from scratch
    started = time.perf_counter()
    summary = train(cfg, bench / "train" / "triplets-*.parquet", bench / "features", out, on_epoch=on_epoch)
    val_curve = [{"epoch": h["epoch"], "val_loss": h["val_loss"], "val": h["val"]} for h in summary["history"]]
    return {**job, "seconds": round(time.perf_counter() - started, 1), "val_curve": val_curve,
            "test_curve": test_curve, "selected": {c: select_epoch(val_curve, c, REPLAY_PATIENCE) for c in CRITERIA}}


# ------------------------------------------------------------------------------------- model selection


def select_epoch(val_curve: list[dict], criterion: str, patience: int = 5) -> int:
    """The epoch the trainer keeps with this early-stopping metric and patience (or the last epoch)."""
    from viml_model.train import _improved, _metric

    if criterion == "last":
        return val_curve[-1]["epoch"]
    best = best_epoch = best_loss = None
    bad = 0
    for row in val_curve:
        value = _metric(row["val"], criterion, row["val_loss"])
        if _improved(value, best, criterion, 0.0, row["val_loss"], best_loss):
            best, best_epoch, best_loss, bad = value, row["epoch"], row["val_loss"], 0
        else:
            bad += 1
            if bad >= patience:
                break
    return best_epoch


# --------------------------------------------------------------------------------------------- report


def load_runs(runs_file: Path) -> list[dict]:
    if not runs_file.is_file():
        return []
    return [json.loads(line) for line in runs_file.read_text().splitlines() if line.strip()]


def at_epoch(run: dict, epoch: int, test_set: str = "test") -> dict:
    return next(r[test_set] for r in run["test_curve"] if r["epoch"] == epoch)


def fmt(values: list[float], digits: int) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def criterion_for(run: dict, criterion: str | None) -> str:
    if criterion:
        return criterion
    return "video_only.R@10" if run["setting"].startswith("mvpt") else DEFAULT_CRITERION


DEFAULT_CRITERION = "mean.mean_rank"


def runs_of(runs: list[dict], setting: str, scale: str, data: str) -> list[dict]:
    return [r for r in runs if r["setting"] == setting and r["scale"] == scale and r["data"] == data]


def at_kept_epochs(group: list[dict], criterion: str | None) -> tuple[list[int], list[dict], list[dict], list[dict]]:
    """Per run, the epoch `criterion` keeps (see criterion_for) and its test, test_tags and validation
    metrics at that epoch."""
    epochs = [r["selected"][criterion_for(r, criterion)] for r in group]
    tests = [at_epoch(r, e) for r, e in zip(group, epochs, strict=True)]
    tags = [at_epoch(r, e, "test_tags") for r, e in zip(group, epochs, strict=True)]
    vals = [next(v for v in r["val_curve"] if v["epoch"] == e)["val"] for r, e in zip(group, epochs, strict=True)]
    return epochs, tests, tags, vals


def settings_table(runs: list[dict], scale: str, data: str, criterion: str | None = None) -> str:
    """One row per setting: test metrics at the epoch `criterion` keeps (default: mean.mean_rank for ViML,
    video_only.R@10 for MVPt+), mean ± sd over seeds."""
    head = ["setting", "seeds"] + [f"{'video only' if q == 'video_only' else 'video+text'} "
                                   f"{'MR' if m == 'median_rank' else m}" for q in QUERY_KINDS for m in METRICS]
    head += ["video+tags R@10", "kept epoch", "val video-only R@10", "val video+text R@10"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting in SETTINGS:
        group = runs_of(runs, setting, scale, data)
        if not group:
            continue
        epochs, tests, tags, vals = at_kept_epochs(group, criterion)
        cells = [setting, str(len(group))]
        for q in QUERY_KINDS:
            for m in METRICS:
                cells.append(fmt([t[q][m] for t in tests], 0 if m == "median_rank" else 1))
        if setting.startswith("mvpt"):
            for k in range(len(METRICS)):  # MVPt+ has no text input: its video+text columns are empty
                cells[2 + len(METRICS) + k] = "-"
        cells += [fmt([t["video_text"]["R@10"] for t in tags], 1) if not setting.startswith("mvpt") else "-",
                  fmt([float(e) for e in epochs], 0), fmt([v["video_only"]["R@10"] for v in vals], 1),
                  fmt([v["video_text"]["R@10"] for v in vals], 1) if not setting.startswith("mvpt") else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def criteria_table(runs: list[dict], scale: str, data: str, setting: str) -> str:
    head = ["selection criterion", "kept epoch", "video only R@10", "video only MR", "video+text R@10",
            "video+text MR"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    group = runs_of(runs, setting, scale, data)
    if not group:
        return ""
    for c in CRITERIA:
        picks = [(r, r["selected"][c]) for r in group]
        tests = [at_epoch(r, e) for r, e in picks]
        lines.append("| " + " | ".join([c, fmt([float(e) for _, e in picks], 0)] + [
            fmt([t[q][m] for t in tests], 1 if m == "R@10" else 0)
            for q in QUERY_KINDS for m in ("R@10", "median_rank")]) + " |")
    return "\n".join(lines)


def curve_table(run: dict) -> str:
    """Per-epoch validation curves of both query kinds (what selection sees) for one run."""
    lines = ["| epoch | val loss | val video-only R@10 | val video+text R@10 | val mean rank (both) |",
             "|---|---|---|---|---|"]
    for v in run["val_curve"]:
        val = v["val"]
        lines.append(f"| {v['epoch']} | {v['val_loss']:.3f} | {val['video_only']['R@10']:.1f} | "
                     f"{val['video_text']['R@10']:.1f} | "
                     f"{(val['video_only']['mean_rank'] + val['video_text']['mean_rank']) / 2:.1f} |")
    return "\n".join(lines)


# The trade-off curve: text dropout p (and the video-only loss) against the two query kinds, T = 0.1.
TRADEOFF = ("viml p=0.25 + video-only loss 1, T=0.1", "viml p=0.5 T=0.1", "viml p=0.75 T=0.1",
            "viml p=1 T=0.1 (never sees text)", "viml p=0.5 T=0.1 addition fusion",
            "viml p=0.75 T=0.1 addition fusion", "viml p=1 T=0.1 addition fusion (never sees text)",
            "viml p=0.5 T=0.1 addition fusion, zero NULL", "viml p=0.75 T=0.1 addition fusion, zero NULL",
            "viml p=0.5 T=0.1 addition fusion, zero NULL + video-only loss 1", "mvpt T=0.1")


def tradeoff_table(runs: list[dict], scale: str, data: str) -> str:
    lines = ["| setting (T = 0.1) | video-only R@10 | video+text R@10 | video+tags R@10 | val video-only R@10 | "
             "val video+text R@10 |", "|---|---|---|---|---|---|"]
    for setting in TRADEOFF:
        group = runs_of(runs, setting, scale, data)
        if not group:
            continue
        _, test, tags, val = at_kept_epochs(group, None)
        text = not setting.startswith("mvpt")
        lines.append("| " + " | ".join([
            setting, fmt([t["video_only"]["R@10"] for t in test], 1),
            fmt([t["video_text"]["R@10"] for t in test], 1) if text else "-",
            fmt([t["video_text"]["R@10"] for t in tags], 1) if text else "-",
            fmt([v["video_only"]["R@10"] for v in val], 1),
            fmt([v["video_text"]["R@10"] for v in val], 1) if text else "-"]) + " |")
    return "\n".join(lines)


def report(runs: list[dict]) -> str:
    md = ["# ViML vs MVPt+ study (bench/viml_study.py)", "",
          "Test metrics (R@K in %, MR = median rank) at the epoch each run's selection keeps, mean ± sd over "
          f"training seeds. ViML rows: selection on validation `{DEFAULT_CRITERION}` (mean of both query kinds' "
          "mean rank); MVPt+ rows: validation video-only R@10.", ""]
    for scale in SCALES:
        for data in DATASETS:
            table = settings_table(runs, scale, data)
            if table.count("\n") < 2:
                continue
            md += [f"## scale `{scale}`, data `{data}`", "", table, ""]
            md += ["Trade-off (test R@10 at the kept epoch; validation for the choice):", "",
                   tradeoff_table(runs, scale, data), ""]
            crit = criteria_table(runs, scale, data, "viml p=0.5 (paper)")
            if crit:
                md += ["Model selection replayed on the `viml p=0.5 (paper)` runs:", "", crit, ""]
    return "\n".join(md)


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, default=ROOT / "out" / "viml-study", help="benchmarks, runs, results")
    p.add_argument("--scale", default="screen", choices=sorted(SCALES))
    p.add_argument("--data", default="base", choices=sorted(DATASETS))
    p.add_argument("--settings", default=None, help="setting names separated by ; (default: all); see SETTINGS")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="training processes at once (one thread each)")
    p.add_argument("--report", action="store_true", help="only print the tables of the recorded runs")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    runs_file = args.runs / "runs.jsonl"
    if args.report:
        text = report(load_runs(runs_file))
        print(text)
        (args.runs / "results.md").write_text(text + "\n")
        return 0
    names = list(SETTINGS) if not args.settings else [s.strip() for s in args.settings.split(";") if s.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; known: {list(SETTINGS)}")
    bench = ensure_benchmark(args.runs, args.scale, args.data)
    done = {(r["setting"], r["scale"], r["data"], r["seed"]) for r in load_runs(runs_file)}
    jobs = []
    for name in names:
        for seed in args.seeds:
            if (name, args.scale, args.data, seed) in done:
                continue
            slug = "".join(c if c.isalnum() else "_" for c in name)
            jobs.append({"setting": name, "scale": args.scale, "data": args.data, "seed": seed, "bench": str(bench),
                         "out": str(args.runs / "models" / f"{args.data}-{args.scale}" / f"{slug}-s{seed}")})
    print(f"{len(jobs)} runs to do ({len(done)} recorded)", flush=True)
    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for result in pool.map(run_one, jobs):
            with runs_file.open("a") as f:
                f.write(json.dumps(result) + "\n")
            e = result["selected"][criterion_for(result, None)]
            t = at_epoch(result, e)
            print(f"{result['setting']} seed {result['seed']} ({result['seconds']:.0f} s): epoch {e}, video-only R@10 "
                  f"{t['video_only']['R@10']:.1f}, video+text R@10 {t['video_text']['R@10']:.1f}", flush=True)
    print(report(load_runs(runs_file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
