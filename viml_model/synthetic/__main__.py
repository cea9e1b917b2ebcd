"""python -m viml_model.synthetic OUT_DIR [--preset tiny] [--seed N] [--set key=value ...] [--check]"""
from __future__ import annotations

import argparse
import json
import sys

from viml_model.config import parse_key_values
from viml_model.synthetic.generator import PRESETS, SyntheticConfig, generate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viml_model.synthetic",
                                description="Write the synthetic ViML benchmark (features, triplets, ground truth).")
    p.add_argument("out_dir")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set n_train_tracks=500 --set 'video_weights={instrument: 0.3}'; "
                        "settings: " + ", ".join(f.name for f in SyntheticConfig.__dataclass_fields__.values()))
    p.add_argument("--text-cache", default=None, help="text-embedding cache folder (default "
                   "$VIML_SYNTH_CACHE/text-embeddings/...); 'none' disables it")
    p.add_argument("--check", action="store_true", help="also run the trainer-free structure check and print it")
    args = p.parse_args(argv)
    cache = False if (args.text_cache or "").lower() == "none" else args.text_cache
    try:
        info = generate(args.out_dir, preset=args.preset, seed=args.seed, text_cache=cache,
                        **parse_key_values(args.set))
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {"paths": info["paths"], "stats": info["stats"]}
    if args.check:
        from viml_model.synthetic.check import structure_check

        report["structure_check"] = structure_check(args.out_dir)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
