"""`viml-synth` command line: one subcommand per stage, each with --help.

Exit status: 0 success (some rows may be in errors-*.parquet), 1 nothing succeeded,
2 unusable input or options (message on stderr).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from pipelines.cli_common import (  # noqa: F401 - EXIT_* and UsageError are re-exported for callers
    EXIT_BAD_INPUT,
    EXIT_NOTHING_DONE,
    EXIT_OK,
    LOG_LEVELS,
    UsageError,
    add_common_args,
    add_runner_args,
    load_config,
    section_of,
    subcommand_parser,
    validated_defaults,
)
from pipelines.local_worker import LOG_FORMAT  # one format for the launcher and its workers

log = logging.getLogger("viml-synth")


def _tag_parser(sub) -> None:
    p = sub.add_parser("tag", help="tag music audio with a pretrained tagger (Beam pipeline)",
                       description="Tag every clip of a manifest; writes tags-*.parquet, errors-*.parquet "
                                   "and summary.json into --out.")
    p.add_argument("--manifest", help="CSV, JSONL or Parquet with music_id, audio_path "
                                      "[, start_s, end_s, video_id]; local path or any Beam URI")
    p.add_argument("--manifest-format", choices=["csv", "tsv", "jsonl", "parquet"],
                   help="override the format guessed from the extension")
    p.add_argument("--out", help="output directory (local or Beam URI); a rerun replaces its outputs")
    p.add_argument("--tagger", default="musicnn",
                   help="musicnn (default), hf:<model id or local path>, clap:<model id or local path> (zero-shot), "
                        "precomputed:<CSV/JSONL/Parquet>, or several joined with + (musicnn+hf:<model>: per tag "
                        "the maximum)")
    p.add_argument("--weights-dir", help="musicnn: directory/URI with MSD_musicnn.safetensors and "
                                         "MTT_musicnn.safetensors (default: converted from the wheel into the cache)")
    p.add_argument("--label-map", help="YAML mapping the tagger's labels onto the vocabulary")
    p.add_argument("--vocabulary", help="vocabulary YAML (default: the packaged 20/28/41 genre/mood/instrument)")
    p.add_argument("--hf-window-s", type=float, default=10.0, help="hf: seconds per window (scores are averaged)")
    p.add_argument("--batch-clips", type=int, default=16,
                   help="model forward pass size, in 10 s clips (3 musicnn patches each); long files are "
                        "tagged in blocks of this size, so memory does not grow with a file's length")
    p.add_argument("--max-duration-s", type=float, default=None,
                   help="tag only the first N seconds of each clip (from its start_s); default: all of it")
    p.add_argument("--descriptors", default="all",
                   help="descriptors measured from the audio (Essentia), written in the `descriptors` column: "
                        "all (default), none, or a comma list of tempo,key,loudness,danceability,dynamics,onsets")
    add_runner_args(p)
    add_common_args(p)
    p.set_defaults(func=cmd_tag)


def _synthesize_parser(sub) -> None:
    p = sub.add_parser("synthesize", help="write music descriptions from tags: tags, data2text, prompt2text",
                       description="Turn tags into texts; writes triplets-*.parquet, errors-*.parquet, "
                                   "summary.json and a dataset card README.md into --out.")
    p.add_argument("--input", help="tags-*.parquet of `viml-synth tag` (a glob), or CSV/JSONL/Parquet with "
                                   "music_id, [video_id,] tags (names or {tag, category, confidence})")
    p.add_argument("--input-format", choices=["csv", "tsv", "jsonl", "parquet"])
    p.add_argument("--out", help="output directory (local or Beam URI); a rerun replaces its outputs")
    p.add_argument("--methods", default="tags,data2text", help="comma list of tags, data2text, prompt2text")
    p.add_argument("--samples-per-track", type=int, default=1, help="texts per track and method")
    p.add_argument("--seed", type=int, default=0, help="run seed; each row derives its own from it")
    g = p.add_argument_group("tag selection")
    g.add_argument("--threshold", type=float, default=0.1, help="minimum confidence of a scored tag")
    g.add_argument("--top-k", default="genre=3,mood=4,instrument=6", help="most tags kept per category")
    g.add_argument("--category-threshold", default="tempo=0.3,key=0.4",
                   help="thresholds of their own for some categories (measured tempo and key tags by default)")
    g.add_argument("--max-tags", type=int, default=15)
    g.add_argument("--min-tags", type=int, default=3, help="if fewer pass the threshold, take the top ones")
    g.add_argument("--vocabulary", help="vocabulary YAML (default: the packaged one)")
    g = p.add_argument_group("data2text")
    g.add_argument("--templates", help="folder of your own <category>.j2 templates, added to the defaults")
    g.add_argument("--rewriter", default="builtin", help="builtin, or hf:<seq2seq model id or local path>")
    g = p.add_argument_group("prompt2text (needs an LLM)")
    g.add_argument("--llm-backend", default="openai", choices=["openai", "tgi", "hf-inference", "transformers"])
    g.add_argument("--llm-base-url", help="e.g. http://localhost:8000/v1 (vLLM), https://router.huggingface.co/v1")
    g.add_argument("--llm-model", help="model name on the server, or a hub id / local path for transformers")
    g.add_argument("--llm-api", default="completions", choices=["completions", "chat"])
    g.add_argument("--max-new-tokens", type=int, default=96)
    g.add_argument("--llm-max-tokens-field", default="max_tokens", choices=["max_tokens", "max_completion_tokens"],
                   help="name of the token limit in openai chat requests (OpenAI deprecated max_tokens; some "
                        "models accept only max_completion_tokens)")
    g.add_argument("--llm-api-key-env", metavar="NAME",
                   help="environment variable holding the API key (default: OPENAI_API_KEY for openai; the HF "
                        "token for Hugging Face hosts; tgi/hf-inference send none elsewhere). Keys only go to "
                        "the host they belong to: see README, Credentials")
    g.add_argument("--http-transport", default="httpx", choices=["httpx", "lean"],
                   help="httpx: httpx2's own (default); lean: a minimal h11 client for very high request rates "
                        "to a fast local server (no proxies)")
    g.add_argument("--temperature", type=float, default=0.7)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--stop", action="append", help="stop sequence (repeatable; default: blank line, next 'Tags:')")
    g.add_argument("--max-concurrency", type=int, default=8)
    g.add_argument("--requests-per-minute", type=float)
    g.add_argument("--max-attempts", type=int, default=5)
    g.add_argument("--timeout-s", type=float, default=60.0)
    g.add_argument("--backoff-s", type=float, default=0.5, help="first retry delay; doubles, with jitter, "
                                                               "unless the server sends Retry-After")
    g.add_argument("--examples", help="example pool JSONL of {id, tags, description} (default: MusicCaps pool)")
    g.add_argument("--k", type=int, default=3, help="examples per prompt")
    g.add_argument("--example-selection", default="random", choices=["random", "similar"])
    g.add_argument("--prompt-template", help="Jinja template of the analogy prompt")
    g.add_argument("--system-prompt", help="text file: the system turn for --llm-api chat")
    g.add_argument("--candidates", type=int, default=1, help="completions drawn per text; the most faithful wins")
    g.add_argument("--cache-dir", help="LLM response cache (default: $VIML_SYNTH_CACHE/llm)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    add_runner_args(p)
    add_common_args(p)
    p.set_defaults(func=cmd_synthesize)


def _evaluate_text_parser(sub) -> None:
    p = sub.add_parser("evaluate-text", help="score synthesized texts against human references",
                       description="BLEU-1..4, ROUGE-L, METEOR (with WordNet synonyms when WordNet is "
                                   "installed), embedding similarity, vocabulary, distinct-n, length, tag coverage "
                                   "and hallucination, per method.")
    p.add_argument("--triplets", help="triplets-*.parquet (a glob)")
    p.add_argument("--references", help="CSV/JSONL/Parquet with music_id and a reference text column")
    p.add_argument("--reference-column", default=None, help="default: caption, text or description")
    p.add_argument("--id-column", default="music_id")
    p.add_argument("--no-embed", action="store_true", help="skip the sentence-embedding similarity")
    p.add_argument("--wordnet", help="NLTK data folder holding corpora/wordnet (WordNet 3.0) for METEOR (default: "
                                     "$VIML_SYNTH_CACHE/nltk_data when present, see `viml-synth wordnet`); 'none': "
                                     "no METEOR")
    p.add_argument("--out", help="write the JSON report here (default: print only)")
    add_common_args(p)
    p.set_defaults(func=cmd_evaluate_text)


def _wordnet_parser(sub) -> None:
    p = sub.add_parser("wordnet", help="fetch WordNet 3.0 (Debian's wordnet-base) for METEOR (read by NLTK)",
                       description="Downloads Debian's wordnet-base package with `apt-get download` (no root "
                                   "needed) and unpacks its database files and licence into the cache.")
    p.add_argument("--out", help="NLTK data folder to write corpora/wordnet into "
                                 "(default: $VIML_SYNTH_CACHE/nltk_data)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=cmd_wordnet)


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="the whole job from one YAML config: tag, then synthesize",
                       description="Runs each stage named in the config (tag, synthesize) in order; stage "
                                   "outputs go under --out (tags/, triplets/). The config and a run summary "
                                   "are copied into --out so the run can be repeated exactly.")
    p.add_argument("--config", required=True, help="YAML with `out`, `seed`, and a section per stage")
    p.add_argument("--out", help="overrides the config's `out`")
    p.add_argument("--log-level", default="INFO", choices=LOG_LEVELS)
    p.set_defaults(func=cmd_run)


def _show_parser(sub) -> None:
    p = sub.add_parser("show", help="print the top tags per clip, or the texts, of an output directory")
    p.add_argument("out", help="output directory of `viml-synth tag` or `viml-synth synthesize`")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=cmd_show)


def _vocabulary_parser(sub) -> None:
    p = sub.add_parser("vocabulary", help="the tag vocabulary: which tags each tagger backend can produce")
    p.add_argument("--coverage", action="store_true", help="per backend, the tags it can and cannot produce")
    p.add_argument("--tagger", action="append",
                   help="a backend spec to report on (repeatable; default: musicnn, AudioSet hf:, clap:, combined)")
    p.add_argument("--vocabulary", help="vocabulary YAML (default: the packaged one)")
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=cmd_vocabulary)


def cmd_vocabulary(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.tag.coverage import coverage_report
    from pipelines.tag.vocabulary import Vocabulary, VocabularyError

    try:
        vocabulary = Vocabulary.load(args.vocabulary)
        if not args.coverage:
            sizes = ", ".join(f"{c} {n}" for c, n in vocabulary.category_sizes().items())
            print(f"{vocabulary.source}: {len(vocabulary)} tags ({sizes}); --coverage: which tags each backend reaches")
            return EXIT_OK
        print(coverage_report(vocabulary, args.tagger))
    except (VocabularyError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc
    return EXIT_OK


def _weights_parser(sub) -> None:
    p = sub.add_parser("weights", help="convert the musicnn wheel's TensorFlow checkpoints to safetensors",
                       description="Reads the musicnn 0.1.0 wheel (no TensorFlow needed) and writes "
                                   "<model>.safetensors; upload the folder for remote workers and pass "
                                   "--weights-dir to `tag`.")
    p.add_argument("--out", help="destination folder (default: the cache, $VIML_SYNTH_CACHE/musicnn)")
    p.add_argument("--wheel", help="path to musicnn-0.1.0-py3-none-any.whl (default: found in the cache)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=cmd_weights)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="viml-synth",
        description="Text data for language-guided music recommendation for video (ViML, CVPR 2023).")
    from pipelines import __version__

    parser.add_argument("--version", action="version", version=f"viml-synth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _tag_parser(sub)
    _synthesize_parser(sub)
    _evaluate_text_parser(sub)
    _wordnet_parser(sub)
    from pipelines.features.cli import add_features_parser

    add_features_parser(sub)
    from pipelines.report.cli import add_report_parser

    add_report_parser(sub)
    from viml_model.cli import add_ensemble_parser, add_evaluate_parser, add_train_parser

    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_ensemble_parser(sub)
    _run_parser(sub)
    _show_parser(sub)
    _vocabulary_parser(sub)
    _weights_parser(sub)
    return parser


def _apply_config(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse twice: a --config file's values become defaults, flags given on the command line win. The
    file's values get the flags' own checks (type, choices), so a typo fails here, naming file and key."""
    args, extra = parser.parse_known_args(argv)
    # `run` and `train` take --config as a run / model config, not as a file of their CLI options
    if getattr(args, "config", None) and args.command not in ("run", "train"):
        config = load_config(args.config)
        # a whole-run config may nest options per command; a flat file is the command's own section
        section = section_of(config, args.command, args.config) if args.command in config else config
        sub = subcommand_parser(parser, args.command)
        sub.set_defaults(**validated_defaults(sub, section, f"{args.config}, section '{args.command}'"))
        args, extra = parser.parse_known_args(argv)
        beam_args = section.get("beam_args", [])
        if not isinstance(beam_args, list) or not all(isinstance(a, str) for a in beam_args):
            raise UsageError(f"{args.config}: beam_args must be a list of strings")
        extra = list(beam_args) + extra
    return args, extra


def cmd_tag(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.io.manifest import ManifestError, read_manifest
    from pipelines.io.out_dir import check_out_dir, exclusive
    from pipelines.tag.backends import from_spec
    from pipelines.tag.pipeline import NothingTagged, TagJob, run
    from pipelines.tag.vocabulary import Vocabulary, VocabularyError

    if not args.out:
        raise UsageError("tag: --out is required")
    check_out_dir(args.out, "tag")
    if args.batch_clips < 1 or args.hf_window_s <= 0:
        raise UsageError(f"tag: --batch-clips must be >= 1 and --hf-window-s > 0 "
                         f"(got {args.batch_clips} and {args.hf_window_s})")
    try:
        vocabulary = Vocabulary.load(args.vocabulary)
        backend = from_spec(args.tagger, weights_dir=args.weights_dir, label_map=args.label_map,
                            hf_window_s=args.hf_window_s, vocabulary=args.vocabulary)
        backend.label_mapping(vocabulary)  # fail now, not on a worker, if the mapping is broken
        backend.check()
        from pipelines.tag.descriptors import parse_which

        descriptor_groups = parse_which(args.descriptors)
        manifest_path = args.manifest or backend.default_manifest()
        if not manifest_path:
            raise UsageError("tag: --manifest is required for this tagger")
        manifest = read_manifest(manifest_path, args.manifest_format, require_audio=backend.needs_audio)
    except (ManifestError, VocabularyError, ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    log.info("manifest %s: %s, %d file(s); its rows are read by the pipeline", manifest.source,
             manifest.input.fmt, len(manifest.input.files))
    options = {k: v for k, v in vars(args).items() if k not in ("func",)}
    job = TagJob(manifest, backend, args.out, vocabulary, runner=args.runner, workers=args.workers,
                 batch_clips=args.batch_clips, beam_args=beam_args, options=options,
                 max_duration_s=args.max_duration_s, descriptors=descriptor_groups)
    if args.max_duration_s is not None and not args.max_duration_s > 0:
        raise UsageError(f"tag: --max-duration-s must be > 0, got {args.max_duration_s}")
    try:
        with exclusive(args.out, "tag"):  # one run at a time per output folder
            summary = run(job)
    except NothingTagged as exc:
        print(f"viml-synth: {exc}", file=sys.stderr)  # the why, with counts and examples, whatever the log level
        return EXIT_NOTHING_DONE
    c = summary["counts"]
    print(f"tagged {c['tagged']} of {c['inputs']} inputs ({c['failed']} failed) in {summary['timing']['wall_s']} s "
          f"-> {args.out}")
    for error_type, n in c["errors_by_type"].items():
        print(f"  {n} x {error_type}")
    return EXIT_OK


def cmd_synthesize(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.io.out_dir import check_out_dir, exclusive
    from pipelines.synthesize.build import job_from_args
    from pipelines.synthesize.pipeline import NothingWritten, run

    try:
        job = job_from_args(args, beam_args)
        check_out_dir(args.out, "synthesize")
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        with exclusive(args.out, "synthesize"):  # one run at a time per output folder
            summary = run(job)
    except NothingWritten as exc:
        print(f"viml-synth: {exc}", file=sys.stderr)  # the why, with counts and examples, whatever the log level
        return EXIT_NOTHING_DONE
    c = summary["counts"]
    print(f"wrote {c['texts']} of {c['texts_expected']} texts for {c['tracks']} tracks ({c['failed']} failed, "
          f"{c['bad_input_rows']} unreadable input rows) in {summary['timing']['wall_s']} s -> {args.out}")
    for method, stats in summary["per_method"].items():
        extra = (f", cache {stats['cache_hits']} hits / {stats['cache_misses']} misses, "
                 f"{stats['llm_attempts']} LLM requests ({stats['llm_retries']} retries)"
                 if "cache_hits" in stats else "")
        print(f"  {method}: {stats['texts']} texts, {stats['failed']} failed{extra}")
    for stage, kinds in c["errors_by_stage"].items():
        print(f"  errors at {stage}: " + ", ".join(f"{n} x {k}" for k, n in kinds.items()))
    return EXIT_OK


def cmd_evaluate_text(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.evaluate.cli import evaluate_text_command

    if not args.triplets or not args.references:
        raise UsageError("evaluate-text: --triplets and --references are required")
    try:
        return evaluate_text_command(args)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc


def cmd_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.run_config import run_from_config

    return run_from_config(args.config, args.out, build_parser(), beam_args)


def cmd_show(args: argparse.Namespace, beam_args: list[str]) -> int:
    from apache_beam.io.filesystems import FileSystems

    from pipelines.io.outputs import committed_files
    from pipelines.tag.show import texts_table, top_tags_table

    if not FileSystems.exists(args.out):
        raise UsageError(f"show: {args.out} does not exist")
    has_texts = committed_files(args.out, "triplets")
    print(texts_table(args.out) if has_texts else top_tags_table(args.out, args.top))
    return EXIT_OK


def cmd_wordnet(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.evaluate.wordnet import WordNetUnavailable, describe, fetch, load

    try:
        folder = fetch(args.out)
    except WordNetUnavailable as exc:
        raise UsageError(f"wordnet: {exc}") from exc
    print(folder, describe(load(folder)))
    return EXIT_OK


def cmd_weights(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.tag.musicnn.weights import cache_dir, convert_from_wheel, find_wheel

    out = args.out or str(cache_dir() / "musicnn")
    written = convert_from_wheel(args.wheel or find_wheel(), out)
    for path in written:
        print(path)
    return EXIT_OK


def quiet_local_workers() -> None:
    """Beam's warnings about how `--workers N` starts its processes (pipelines/options.py, local_worker.py)
    say nothing a user can act on; the workers log at our level ($VIML_SYNTH_WORKER_LOG_LEVEL)."""
    from pipelines.local_worker import BENIGN, LEVEL_ENV

    def benign(record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in BENIGN)

    for name in ("apache_beam.runners.portability.fn_api_runner.fn_runner",
                 "apache_beam.runners.portability.local_job_service"):
        logging.getLogger(name).addFilter(benign)
    # always this run's level: a value inherited from a parent process (a test runner, a wrapper script
    # that ran `main` before) must not override --log-level
    os.environ[LEVEL_ENV] = logging.getLevelName(logging.getLogger().getEffectiveLevel())


def _configure_logging(level_name: str) -> None:
    """Importing Beam logs a warning first, which gives the root logger a stderr handler at WARNING, so a
    plain basicConfig would do nothing: set the level, and our format on that plain stderr handler only
    (handlers others installed, e.g. a test's log capture, are left alone)."""
    level = getattr(logging, str(level_name).upper(), logging.INFO)
    root = logging.getLogger()
    logging.basicConfig(format=LOG_FORMAT)
    root.setLevel(level)
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__):
            handler.setFormatter(logging.Formatter(LOG_FORMAT))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, extra = _apply_config(parser, argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        _configure_logging(args.log_level)
        # Beam's GCP module warns about optional BigQuery clients at import; irrelevant here. Beam's own
        # INFO chatter, and the HTTP clients' line per LLM request (hundreds a second), would drown our
        # progress lines, so they speak only at --log-level DEBUG.
        logging.getLogger().addFilter(lambda r: "apitools not found" not in r.getMessage())
        quiet_local_workers()
        if args.log_level != "DEBUG":
            for chatty in ("apache_beam", "httpx2", "httpcore2", "httpx", "httpcore"):
                logging.getLogger(chatty).setLevel(logging.WARNING)
        unknown = [a for a in extra if a.startswith("--")]
        if unknown and args.command not in ("tag", "synthesize", "features", "run"):
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        try:
            return args.func(args, extra)
        except (ValueError, FileNotFoundError) as exc:  # stages raise these for unusable inputs or options
            raise UsageError(str(exc)) from exc
        except OSError as exc:  # an unwritable --out, a full disk: the system's words, without a traceback
            log.debug("OSError", exc_info=True)
            raise UsageError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)) from exc
    except UsageError as exc:
        print(f"viml-synth: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
