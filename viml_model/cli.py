"""argparse subcommands `train`, `evaluate`, `ensemble` for the `viml-synth` CLI.

Each builder adds one subparser with set_defaults(func=...); func(args, extra_args) -> exit status
(0 ok). Bad input raises ValueError with a one-line message (the caller turns it into exit 2).
Usable on its own too: `python -m viml_model.cli train --config viml ...`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys


def _methods(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [m.strip() for v in values for m in v.split(",") if m.strip()]
    return out or None


def _no_extra(extra_args: list[str], command: str) -> None:
    if extra_args:
        raise ValueError(f"{command}: unrecognized arguments: {' '.join(extra_args)}")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(asctime)s %(name)s %(message)s")


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train ViML (or the MVPt+ / MT baselines) on triplets and precomputed features",
        description="Writes last.pt/best.pt checkpoints, metrics.json, curves.png, split.json and "
                    "config.json into --out. Validation videos are held out with the seed.")
    p.add_argument("--config", default="viml",
                   help="YAML config, or a packaged one: viml (default, the paper's settings), mvpt, mt")
    p.add_argument("--triplets", required=True, help="triplets-*.parquet (a glob, a file, or their directory)")
    p.add_argument("--features", required=True, help="features directory (video/music/text-*.parquet, encoders.json)")
    p.add_argument("--out", required=True, help="output directory for checkpoints and metrics")
    p.add_argument("--methods", nargs="+", help="keep only these synthesis methods, e.g. prompt2text "
                                                "(space or comma separated; default: the config's, else all)")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--skip-nonfinite", action="store_true",
                   help="leave out triplets whose features hold NaN/inf (reported) instead of stopping with exit 2")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_train)
    return p


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="music retrieval metrics of a checkpoint (R@1/5/10, median rank)",
        description="Video-only and video+text queries from the triplets against their tracks; prints the "
                    "JSON and writes it (default: evaluation.json beside the checkpoint).")
    p.add_argument("--checkpoint", required=True, help="training out dir (best.pt, else last.pt) or a .pt file")
    p.add_argument("--triplets", required=True, help="triplets-*.parquet (a glob, a file, or their directory)")
    p.add_argument("--features", required=True, help="features directory")
    p.add_argument("--pool-size", type=int, help="tracks per query pool (default: all tracks of the triplets; "
                                                  "larger adds distractors from --features, smaller draws a "
                                                  "fixed-size pool per track)")
    p.add_argument("--methods", nargs="+", help="keep only these synthesis methods")
    p.add_argument("--seed", type=int, default=0, help="seed of the pool draws")
    p.add_argument("--batch-size", type=int, help="inference batch (default: the config's eval_batch_size)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--out", help="JSON file to write (default: <checkpoint dir>/evaluation.json)")
    p.add_argument("--skip-nonfinite", action="store_true",
                   help="count queries whose features hold NaN/inf as misses (reported) instead of stopping "
                        "with exit 2")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_evaluate)
    return p


def add_ensemble_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "ensemble", help="score ensemble (1-a) s1 + a s2 of two checkpoints, a tuned on validation",
        description="Tunes a on --val-triplets (optionally only the validation videos of --val-split), then "
                    "evaluates on --triplets; prints and writes the JSON (default: ensemble.json beside the "
                    "first checkpoint).")
    p.add_argument("--checkpoints", nargs=2, required=True, metavar=("MODEL1", "MODEL2"))
    p.add_argument("--val-triplets", required=True, help="triplets to tune a on")
    p.add_argument("--val-split", help="split.json (or a training out dir): tune on its validation videos only")
    p.add_argument("--triplets", required=True, help="triplets to evaluate on")
    p.add_argument("--features", required=True)
    p.add_argument("--metric", default="video_text.R@10", help="tuning metric, e.g. video_text.R@10")
    p.add_argument("--grid", help="comma list of a values (default 0, 0.05, ..., 1)")
    p.add_argument("--pool-size", type=int)
    p.add_argument("--methods", nargs="+")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device")
    p.add_argument("--out")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_ensemble)
    return p


def _report_skipped(command: str, skipped: dict) -> None:
    for modality, ids in skipped.items():
        shown = ", ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
        print(f"{command}: skipped {len(ids)} {modality} id(s) with non-finite features: {shown}", file=sys.stderr)


def cmd_train(args: argparse.Namespace, extra_args: list[str]) -> int:
    from viml_model.train import NonFiniteLossError, train

    _no_extra(extra_args, "train")
    _setup_logging(args.log_level)
    try:
        summary = train(args.config, args.triplets, args.features, args.out, methods=_methods(args.methods),
                        resume=args.resume, epochs=args.epochs, seed=args.seed, device=args.device,
                        skip_nonfinite=args.skip_nonfinite)
    except NonFiniteLossError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 1
    summary.pop("history")
    _report_skipped("train", summary["skipped_nonfinite"])
    print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace, extra_args: list[str]) -> int:
    from viml_model.evaluate import evaluate

    _no_extra(extra_args, "evaluate")
    _setup_logging(args.log_level)
    result = evaluate(args.checkpoint, args.triplets, args.features, args.pool_size, seed=args.seed,
                      methods=_methods(args.methods), out=args.out, device=args.device, batch_size=args.batch_size,
                      skip_nonfinite=args.skip_nonfinite)
    _report_skipped("evaluate", result["skipped_nonfinite"])
    print(json.dumps(result, indent=2))
    return 0


def cmd_ensemble(args: argparse.Namespace, extra_args: list[str]) -> int:
    from viml_model.ensemble import DEFAULT_GRID, run_ensemble

    _no_extra(extra_args, "ensemble")
    _setup_logging(args.log_level)
    grid = DEFAULT_GRID
    if args.grid:
        try:
            grid = tuple(float(a) for a in args.grid.split(","))
        except ValueError as exc:
            raise ValueError(f"--grid: expected numbers separated by commas, got {args.grid!r}") from exc
        if any(not 0.0 <= a <= 1.0 for a in grid):
            raise ValueError("--grid: values must lie in [0, 1]")
    result = run_ensemble(args.checkpoints, args.val_triplets, args.triplets, args.features,
                          pool_size=args.pool_size, grid=grid, metric=args.metric, val_split=args.val_split,
                          seed=args.seed, methods=_methods(args.methods), out=args.out, device=args.device,
                          batch_size=args.batch_size)
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viml_model.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_ensemble_parser(sub)
    args, extra = parser.parse_known_args(argv)
    try:
        return args.func(args, extra)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
