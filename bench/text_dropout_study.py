"""What text dropout does, measured on the synthetic ViML benchmark (viml_model.synthetic).

    .venv/bin/python bench/text_dropout_study.py                       # p = 0, 0.25, 0.5, 0.75
    .venv/bin/python bench/text_dropout_study.py --fusions             # + the five fusion modules at --fusion-p
    .venv/bin/python bench/text_dropout_study.py --seeds 0 1 2         # mean (sd) over training seeds
    .venv/bin/python bench/text_dropout_study.py --jobs 2              # two runs at once (one thread each)
    .venv/bin/python bench/text_dropout_study.py --preset tiny --dry-run

1. Generates the benchmark into --bench (or reuses it when its synthetic.json has the same preset, seed and
   settings): train triplets with synthesized-style texts, test triplets with human-style texts (other
   words, omissions, wrong attributes) and test_tags triplets (the same test videos with tags texts).
2. For every setting writes a config (a copy of --config with the setting's keys changed: no --set option
   is needed from the trainer), then runs the trainer's command line:
       viml-synth train --config CFG --triplets 'BENCH/train/triplets-*.parquet' --features BENCH/features
                        --out RUN [--seed N]
       viml-synth evaluate --checkpoint RUN --triplets 'BENCH/test/triplets-*.parquet' --features BENCH/features
                           --out RUN/eval-test.json
   (and again on test_tags). `evaluate` prints JSON with `video_only` and `video_text`, each with R@1, R@5,
   R@10 (percent), median_rank, n_queries and pool_size.
3. Prints markdown tables (R@1/5/10, median rank; video only and video + text; chance) and writes
   results.json and results.md into --runs.

The model is shrunk for the synthetic scale unless --paper-model (SYNTHETIC_OVERRIDES below): the paper's
d_model 256 / ff 2048 model has ~6x the parameters and does not finish in minutes on 2 CPU cores.

A run of the default benchmark (seed 0, one training seed, --fusions --jobs 2: 8 runs, ~2 min each, 8.5 min
in all on a shared 2-core machine) with the viml.yaml of before the issue-13 study (transformer2 fusion,
T = 0.03, selection on video+text R@10); R@1 / R@10 / MR in a pool of 500 (chance 0.2 / 2 / 250):

    setting          video only          video + human text    video + tags text
    p = 0            1.0 /  6.4 / 152    13.2 / 41.2 / 18      74.4 / 96.8 / 1
    p = 0.25         5.0 / 26.0 /  44    15.0 / 46.4 / 13      60.6 / 91.2 / 1
    p = 0.5          5.8 / 27.2 /  34    12.4 / 42.2 / 15      45.8 / 83.0 / 2
    p = 0.75         6.8 / 26.6 /  34     9.4 / 38.4 / 20      22.4 / 64.0 / 5
    fusions at p = 0.5 (addition, linear, mlp, transformer1): video + human text R@10 47.6, 46.2, 40.4, 47.6

With the current viml.yaml (zero NULL, video-only loss weight 1; README "What ViML learns"), one seed,
p = 0 / 0.25 / 0.5 / 0.75: video only R@10 30.2 / 30.4 / 32.2 / 32.6, video + human text R@10 51.8 / 49.2 /
47.2 / 45.4: the video-only loss keeps the NULL-text path trained at every p.

With the old viml.yaml, without text dropout the model leans on the (clean, nearly identifying) training
texts: video-only retrieval collapses and noisy human texts help less; any p > 0 restores video-only retrieval, and the
best video + human text retrieval is at a small p, while tags at test time (the training distribution)
favour p = 0.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CONFIG = ROOT / "viml_model" / "configs" / "viml.yaml"

# ---- Where the settings live in the trainer's config (viml_model/config.py). ---------------------------
TEXT_DROPOUT_KEY = "train.text_dropout"
FUSION_KEY = "model.fusion"
try:
    from viml_model.config import FUSIONS
except ImportError:  # pragma: no cover
    FUSIONS = ("addition", "linear", "mlp", "transformer1", "transformer2")

# ---- Settings for the synthetic scale (2,000 training videos, 128-d features): a smaller model and a
# ---- schedule that fits ~1-2 minutes per run on one CPU thread (~3 s per epoch of 1,800 pairs).
# ---- --paper-model keeps the config's own (d_model 256, ff 2048: ~10x the parameters).
SYNTHETIC_OVERRIDES = {
    "model.d_model": 128,
    "model.ff_dim": 512,
    "model.mlp_hidden": 512,
    "train.epochs": 20,  # validation R@10 plateaus after ~12 epochs at p = 0.5
    "train.batch_size": 128,
    "train.warmup_steps": 50,
    "train.lr": 5.0e-4,
}

DROPOUTS = (0.0, 0.25, 0.5, 0.75)
QUERY_TYPES = ("video_only", "video_text")
METRICS = ("R@1", "R@5", "R@10", "median_rank")


# ----------------------------------------------------------------------------------------- configs


def _parse_value(text: str):
    return yaml.safe_load(text)


def set_dotted(data: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ValueError(f"{dotted}: {k} is not a section")
    node[keys[-1]] = value


def load_config_data(path: Path) -> dict:
    """The YAML of a config, `extends` resolved (the copy must not depend on its own folder)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base = data.pop("extends", None)
    if base is None:
        return data
    base_path = (path.parent / base).resolve()
    if not base_path.is_file():
        base_path = DEFAULT_CONFIG.parent / base
    merged = load_config_data(base_path)

    def deep(a: dict, b: dict):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                deep(a[k], v)
            else:
                a[k] = v

    deep(merged, data)
    return merged


def write_config(base: dict, overrides: dict, path: Path) -> Path:
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        set_dotted(data, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by bench/text_dropout_study.py\n" + yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------------------- running


def launcher(choice: str) -> list[str]:
    """The `viml-synth` command: the installed one when it has `train`, else the module entry points."""
    candidates = {
        "viml-synth": [str(Path(sys.executable).parent / "viml-synth")],
        "pipelines": [sys.executable, "-m", "pipelines.cli"],
        "module": [sys.executable, "-m", "viml_model.cli"],
    }
    if choice != "auto":
        return candidates[choice]
    for name in ("viml-synth", "pipelines", "module"):
        cmd = candidates[name]
        if name == "viml-synth" and not Path(cmd[0]).exists():
            continue
        probe = subprocess.run(cmd + ["train", "--help"], cwd=ROOT, capture_output=True, text=True)
        if probe.returncode == 0 and "--triplets" in probe.stdout:
            return cmd
    raise SystemExit("no trainer command found: neither `viml-synth train` nor `python -m viml_model.cli train`")


def last_json(stdout: str) -> dict:
    """The JSON object a command printed (the whole output, else the last {...} block)."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    end = text.rfind("}")
    start = text.find("{")
    while start != -1 and start < end:
        try:
            return json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            start = text.find("\n{", start + 1)
            start = start + 1 if start != -1 else -1
    raise ValueError(f"no JSON in the command's output:\n{stdout[-2000:]}")


def run(cmd: list[str], log: Path, dry_run: bool, threads: int | None = None) -> str:
    print("$ " + " ".join(f"'{c}'" if "*" in c else c for c in cmd), flush=True)
    if dry_run:
        return ""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}); see {log}\n{proc.stderr[-2000:]}")
    return proc.stdout


# -------------------------------------------------------------------------------------- benchmark


def ensure_benchmark(bench: Path, preset: str, seed: int, overrides: dict, regenerate: bool, dry_run: bool) -> dict:
    from viml_model.synthetic import generate, make_config

    want = make_config(preset, seed, **overrides).to_dict()
    summary = bench / "synthetic.json"
    if summary.is_file() and not regenerate:
        old = json.loads(summary.read_text())
        if old.get("config") == want and old.get("preset") == preset:
            print(f"reusing the benchmark in {bench}", flush=True)
            return old
        print(f"{bench} holds another benchmark configuration: regenerating", flush=True)
    if dry_run:
        print(f"(would generate preset {preset!r}, seed {seed} into {bench})")
        return {"paths": {"test_tags_triplets": str(bench / "test_tags" / "triplets-*.parquet")}, "stats": {}}
    started = time.perf_counter()
    info = generate(bench, preset=preset, seed=seed, **overrides)
    print(f"generated the benchmark in {time.perf_counter() - started:.1f} s: {json.dumps(info['stats']['triplets'])}",
          flush=True)
    return json.loads(summary.read_text())


# ------------------------------------------------------------------------------------------ tables


def _fmt(values: list[float], digits: int) -> str:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({statistics.stdev(values):.{digits}f})"


def markdown_table(results: list[dict], test_set: str) -> str:
    head = ["setting", "train text dropout", "fusion"]
    for q in QUERY_TYPES:
        label = "video only" if q == "video_only" else "video + text"
        head += [f"{label} {m if m != 'median_rank' else 'MR'}" for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pool = None
    for r in results:
        evals = [e[test_set] for e in r["evaluations"] if e.get(test_set)]
        if not evals:
            continue
        pool = evals[0]["video_only"].get("pool_size", pool)
        cells = [r["name"], f"{r['text_dropout']:g}", r["fusion"]]
        for q in QUERY_TYPES:
            for m in METRICS:
                cells.append(_fmt([e[q].get(m) for e in evals], 0 if m == "median_rank" else 2))
        lines.append("| " + " | ".join(cells) + " |")
    if pool:
        chance = [100.0 * min(k, pool) / pool for k in (1, 5, 10)] + [(pool + 1) / 2]
        cells = ["chance", "", ""] + [f"{c:.2f}" if i < 3 else f"{c:.0f}"
                                      for _ in QUERY_TYPES for i, c in enumerate(chance)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", type=Path, default=ROOT / "out" / "synthetic-bench", help="benchmark folder")
    p.add_argument("--runs", type=Path, default=None, help="training runs and results (default: BENCH/study)")
    p.add_argument("--preset", default="default", choices=("default", "tiny"))
    p.add_argument("--bench-seed", type=int, default=0, help="seed of the benchmark")
    p.add_argument("--bench-set", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark setting (viml_model.synthetic.SyntheticConfig), e.g. test_error_rate=0.3")
    p.add_argument("--regenerate", action="store_true", help="generate the benchmark even if it exists")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the trainer config the runs copy")
    p.add_argument("--paper-model", action="store_true", help="do not apply SYNTHETIC_OVERRIDES")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="extra config change for every run, e.g. train.epochs=30")
    p.add_argument("--dropouts", default=",".join(f"{d:g}" for d in DROPOUTS), help="comma list of p")
    p.add_argument("--fusion", default=None, help="fusion module of the dropout runs (default: the config's)")
    p.add_argument("--fusions", action="store_true", help="also train the five fusion modules at --fusion-p")
    p.add_argument("--fusion-p", type=float, default=0.5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (mean and sd reported)")
    p.add_argument("--launcher", default="auto", choices=("auto", "viml-synth", "pipelines", "module"))
    p.add_argument("--threads", type=int, default=1,
                   help="torch/OpenMP threads per run (default 1: these small models run several times faster on "
                        "one thread than on two contended ones); 0 = the library default")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (e.g. 2 on 2 cores with --threads 1)")
    p.add_argument("--reuse-runs", action="store_true", help="skip training when RUN/best.pt or last.pt exists")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    return p


def key_values(items: list[str]) -> dict:
    """KEY=VALUE strings -> {KEY: YAML-parsed VALUE}."""
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k.strip()] = _parse_value(v)
    return out


def study_settings(args, default_fusion: str) -> list[tuple[str, dict, float, str]]:
    """(name, config changes, p, fusion) per setting: the dropout sweep, then (--fusions) the other fusions."""
    settings = [(f"p={p_:g}", {TEXT_DROPOUT_KEY: p_, FUSION_KEY: default_fusion}, p_, default_fusion)
                for p_ in (float(x) for x in args.dropouts.split(",") if x.strip())]
    if args.fusions:
        for fusion in FUSIONS:
            if fusion == default_fusion and any(s[2] == args.fusion_p for s in settings):
                continue
            settings.append((f"{fusion} p={args.fusion_p:g}", {TEXT_DROPOUT_KEY: args.fusion_p, FUSION_KEY: fusion},
                             args.fusion_p, fusion))
    return settings


class Runner:
    """Trains and evaluates one (setting, seed) through the trainer's command line."""

    def __init__(self, args, bench: Path, runs_dir: Path, base: dict, common: dict, test_sets: dict):
        self.args, self.bench, self.runs_dir = args, bench, runs_dir
        self.base, self.common, self.test_sets = base, common, test_sets
        self.cli = launcher(args.launcher) if not args.dry_run else ["viml-synth"]
        self.threads = args.threads or None

    def __call__(self, job) -> tuple[dict, float | None]:
        name, overrides, seed = job
        run_dir = self.runs_dir / f"{name.replace(' ', '_').replace('=', '')}-seed{seed}"
        cfg_path = write_config(self.base, {**self.common, **overrides}, run_dir / "config.yaml")
        seconds = self.train(cfg_path, run_dir, seed)
        evals = self.evaluate(run_dir)
        if evals:
            print(f"{name} seed {seed}" + (f" (trained in {seconds:.0f} s)" if seconds else "") + ": " + ", ".join(
                f"{t} {q} R@10 {evals[t][q]['R@10']:.2f}" for t in evals for q in QUERY_TYPES), flush=True)
        return evals, seconds

    def train(self, cfg_path: Path, run_dir: Path, seed: int) -> float | None:
        done = any((run_dir / "model" / f).is_file() for f in ("best.pt", "last.pt"))
        if self.args.reuse_runs and done:
            return None
        if not self.args.dry_run:  # the study owns its run folders: a rerun trains afresh, not on top
            shutil.rmtree(run_dir / "model", ignore_errors=True)
        started = time.perf_counter()
        run(self.cli + ["train", "--config", str(cfg_path), "--triplets",
                        str(self.bench / "train" / "triplets-*.parquet"), "--features", str(self.bench / "features"),
                        "--out", str(run_dir / "model"), "--seed", str(seed)],
            run_dir / "train.log", self.args.dry_run, self.threads)
        return round(time.perf_counter() - started, 1)

    def evaluate(self, run_dir: Path) -> dict:
        evals = {}
        for test_name, glob_ in self.test_sets.items():
            out = run(self.cli + ["evaluate", "--checkpoint", str(run_dir / "model"), "--triplets", str(glob_),
                                  "--features", str(self.bench / "features"),
                                  "--out", str(run_dir / f"eval-{test_name}.json")],
                      run_dir / f"eval-{test_name}.log", self.args.dry_run, self.threads)
            if out:
                evals[test_name] = last_json(out)
        return evals


def write_results(args, runs_dir: Path, results: list[dict], test_sets: dict, common: dict) -> None:
    chance_note = "R@K in percent; MR = median rank (lower is better); (sd) over training seeds"
    md = [f"# Text dropout on the synthetic ViML benchmark ({args.preset}, benchmark seed {args.bench_seed}, "
          f"training seeds {' '.join(map(str, args.seeds))})", "", chance_note, ""]
    titles = {"test": "Human-style test texts (other wording, omissions, wrong attributes)",
              "test_tags": "Tags test texts (synthetic tags at test time, as the paper's Table 1)"}
    for test_name in test_sets:
        md += [f"## {titles[test_name]}", "", markdown_table(results, test_name), ""]
    text = "\n".join(md)
    print("\n" + text)
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "results.md").write_text(text + "\n")
    (runs_dir / "results.json").write_text(json.dumps({
        "benchmark": str(args.bench.resolve()), "preset": args.preset, "bench_seed": args.bench_seed,
        "seeds": args.seeds, "config": str(args.config), "overrides": common, "results": results}, indent=2) + "\n")
    print(f"\nwrote {runs_dir / 'results.md'} and results.json")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    bench = args.bench.resolve()
    runs_dir = (args.runs or bench / "study").resolve()
    info = ensure_benchmark(bench, args.preset, args.bench_seed, key_values(args.bench_set), args.regenerate,
                            args.dry_run)
    test_sets = {"test": bench / "test" / "triplets-*.parquet"}
    if (info.get("paths") or {}).get("test_tags_triplets"):
        test_sets["test_tags"] = bench / "test_tags" / "triplets-*.parquet"

    base = load_config_data(args.config.resolve())
    common = {} if args.paper_model else dict(SYNTHETIC_OVERRIDES)
    common.update(key_values(args.set))
    default_fusion = args.fusion or common.get(FUSION_KEY) or base.get("model", {}).get("fusion", "transformer2")
    settings = study_settings(args, default_fusion)

    runner = Runner(args, bench, runs_dir, base, common, test_sets)
    jobs = [(name, overrides, seed) for name, overrides, _, _ in settings for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = dict(zip(((n, s) for n, _, s in jobs), pool.map(runner, jobs), strict=True))
    results = []
    for name, _, p_drop, fusion in settings:
        done = [outcomes[(name, seed)] for seed in args.seeds]
        results.append({"name": name, "text_dropout": p_drop, "fusion": fusion,
                         "evaluations": [e for e, _ in done], "train_seconds": [t for _, t in done]})
    if not args.dry_run:
        write_results(args, runs_dir, results, test_sets, common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
