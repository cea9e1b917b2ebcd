"""`viml-synth features`: the subcommand's options and what it runs (registered by pipelines/cli.py)."""
from __future__ import annotations

import argparse
import logging
import sys

from pipelines.cli_common import EXIT_NOTHING_DONE, EXIT_OK, add_common_args, add_runner_args

log = logging.getLogger("viml-synth")


def add_features_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "features", help="encode videos, music and texts with frozen pretrained encoders (Beam pipeline)",
        description="Writes video-*.parquet [T, D] (frames at --fps), music-*.parquet [S, D] (3 s segments), "
                    "text-*.parquet [D] (every distinct text of the triplets, plus \"\" for text dropout), "
                    "errors-<modality>-*.parquet, encoders.json and summary.json into --out. Give any subset of "
                    "--videos, --music, --triplets; a rerun replaces only the modalities it runs.")
    g = p.add_argument_group("inputs (any subset)")
    g.add_argument("--videos", help="video manifest (CSV/TSV/JSONL/Parquet): video_id, video_path [, start_s, end_s]")
    g.add_argument("--videos-format", choices=["csv", "tsv", "jsonl", "parquet"])
    g.add_argument("--music", help="music manifest, the tag stage's format: music_id, audio_path [, start_s, end_s]")
    g.add_argument("--music-format", choices=["csv", "tsv", "jsonl", "parquet"])
    g.add_argument("--triplets", help="triplets-*.parquet (a glob) whose distinct texts are encoded")
    p.add_argument("--out", help="features directory (local or Beam URI)")
    g = p.add_argument_group("encoders")
    g.add_argument("--video-encoder", default="efficientnet-lite0",
                   help="efficientnet-lite0 (default, offline, 1280-d) or clip[:<hub id or path>] "
                        "(default id openai/clip-vit-base-patch32, as the paper)")
    g.add_argument("--music-encoder", default="musicnn",
                   help="musicnn[:MSD_musicnn|MTT_musicnn][:penultimate|pooled] (default MSD_musicnn penultimate, "
                        "200-d per 3 s patch; pooled: 1506-d) or hf:<audio model id or path>")
    g.add_argument("--text-encoder", default="minilm",
                   help="minilm (default, offline all-MiniLM-L6-v2, 384-d) or clip[:<hub id or path>]")
    g.add_argument("--weights-dir", help="musicnn: folder/URI with <model>.safetensors (default: the cache)")
    g = p.add_argument_group("sampling")
    g.add_argument("--fps", type=float, default=1.0, help="frames per second sampled from each video segment")
    g.add_argument("--frame-crop", default="center", choices=["center", "pad"],
                   help="non-square frames: centre square crop (default, as the encoders were trained) or pad")
    g.add_argument("--max-frames", type=int, help="cap frames per video (spread over the segment)")
    g.add_argument("--music-segment-s", type=float, default=3.0, help="hf music encoders: seconds per segment")
    g = p.add_argument_group("batching")
    g.add_argument("--batch-frames", type=int, default=16, help="frames per encoder forward pass")
    g.add_argument("--batch-patches", type=int, default=64, help="audio segments per encoder forward pass")
    g.add_argument("--batch-texts", type=int, default=256, help="texts per encoder forward pass")
    add_runner_args(p)
    add_common_args(p)
    p.set_defaults(func=features_command)
    return p


def job_from_args(args: argparse.Namespace, beam_args: list[str]):
    """A FeaturesJob from parsed options; ValueError for anything unusable (exit status 2)."""
    from pipelines.features.encoders import music_encoder, text_encoder, video_encoder
    from pipelines.features.manifests import read_video_manifest
    from pipelines.features.pipeline import FeaturesJob, describe_encoders, triplet_files
    from pipelines.io.manifest import read_manifest

    if not args.out:
        raise ValueError("features: --out is required")
    from pipelines.io.out_dir import check_out_dir

    check_out_dir(args.out, "features")
    if not (args.videos or args.music or args.triplets):
        raise ValueError("features: give at least one of --videos, --music, --triplets")
    for name in ("batch_frames", "batch_patches", "batch_texts"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    try:
        job = FeaturesJob(
            out_dir=args.out,
            videos=read_video_manifest(args.videos, args.videos_format) if args.videos else None,
            music=read_manifest(args.music, args.music_format) if args.music else None,
            triplets=args.triplets or None,
            video_encoder=video_encoder(args.video_encoder, args.fps, args.frame_crop, args.max_frames)
            if args.videos else None,
            music_encoder=music_encoder(args.music_encoder, args.weights_dir, args.music_segment_s)
            if args.music else None,
            text_encoder=text_encoder(args.text_encoder) if args.triplets else None,
            batch_frames=args.batch_frames, batch_patches=args.batch_patches, batch_texts=args.batch_texts,
            runner=args.runner, workers=args.workers, beam_args=list(beam_args),
            options={k: v for k, v in vars(args).items() if k != "func"})
        if job.triplets:
            triplet_files(job.triplets)
        describe_encoders(job)  # a model id that is not available fails here, not on a worker
    except (FileNotFoundError, OSError) as exc:
        raise ValueError(str(exc)) from exc
    return job


def features_command(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.features.pipeline import NothingProduced, run
    from pipelines.io.out_dir import exclusive

    job = job_from_args(args, beam_args)
    for name, manifest in (("videos", job.videos), ("music", job.music)):
        if manifest is not None:
            log.info("%s manifest %s: %s, %d file(s); its rows are read by the pipeline", name, manifest.source,
                     manifest.input.fmt, len(manifest.input.files))
    try:
        with exclusive(args.out, "features"):  # one run at a time per output folder
            summary = run(job)
    except NothingProduced as exc:
        print(f"viml-synth: {exc}", file=sys.stderr)  # the why, with counts and examples, whatever the log level
        return EXIT_NOTHING_DONE
    print(f"features in {summary['timing']['wall_s']} s -> {args.out}")
    for m in job.modalities():
        s = summary["modalities"][m]
        units = f", {s['frames']} frames" if "frames" in s else f", {s['segments']} segments" if "segments" in s else ""
        print(f"  {m}: {s['encoded']} of {s['inputs']} encoded ({s['failed']} failed{units}), "
              f"{s['encoder']} {s['dim']}-d")
        for error_type, n in s["errors_by_type"].items():
            print(f"    {n} x {error_type}")
    return EXIT_OK
