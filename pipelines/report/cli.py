"""`viml-synth report`: the subcommand's options and what it runs."""
from __future__ import annotations

import argparse
import logging
import os
import time

from pipelines.report.limits import EVAL_ROWS, EXAMPLES, TEXT_SAMPLE

log = logging.getLogger("viml-synth.report")


def add_report_parser(sub) -> None:
    p = sub.add_parser(
        "report", help="one self-contained HTML page about a synthesize run (and a comparison of two runs)",
        description="Counts, tag and text statistics, fidelity, examples, and optionally the tagger's confidence "
                    "and descriptors, metrics against references, and a side-by-side comparison with a second "
                    "run, in one HTML file that opens offline in any browser.")
    p.add_argument("--triplets", required=True, help="output folder of `viml-synth synthesize` (triplets-*.parquet)")
    p.add_argument("--compare", metavar="DIR2", help="a second synthesize output folder: both runs side by side "
                                                     "on the tracks they share")
    p.add_argument("--tags", metavar="TAGS_DIR", help="output folder of `viml-synth tag`: tagger confidence and "
                                                      "audio descriptors")
    p.add_argument("--references", help="CSV/JSONL/Parquet of human references: the evaluate-text metrics per method")
    p.add_argument("--id-column", default="music_id", help="the references' id column (e.g. ytid)")
    p.add_argument("--reference-column", default=None, help="default: caption, text or description")
    p.add_argument("--no-embed", action="store_true", help="references: skip the sentence-embedding similarity")
    p.add_argument("--wordnet", help="references: WordNet folder for METEOR (as evaluate-text), 'none' to skip")
    p.add_argument("--eval-rows", type=int, default=EVAL_ROWS,
                   help="references: texts scored per method at most (a seeded sample when more match)")
    p.add_argument("--text-sample", type=int, default=TEXT_SAMPLE,
                   help="texts per method behind vocabulary size and distinct-n (a seeded sample)")
    p.add_argument("--examples", type=int, default=EXAMPLES, help="example tracks shown")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (examples, texts, pairs)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_report)


def _step(what: str):
    log.info("report: %s", what)
    return time.perf_counter()


def cmd_report(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.report.aggregate import aggregate_run
    from pipelines.report.render import render
    from pipelines.tag.vocabulary import Vocabulary

    vocabulary = Vocabulary.load()
    options = dict(seed=args.seed, text_sample=args.text_sample, examples=args.examples, vocabulary=vocabulary)
    started = _step(f"reading {args.triplets}")
    run = aggregate_run(args.triplets, **options)
    tagger = references = compare = None
    if args.tags:
        from pipelines.report.tagger import aggregate_tags

        _step(f"reading {args.tags}")
        tagger = aggregate_tags(args.tags)
    ref_options = dict(id_column=args.id_column, reference_column=args.reference_column, embed=not args.no_embed,
                       wordnet_dir=args.wordnet, seed=args.seed, limit=args.eval_rows, vocabulary=vocabulary,
                       order=run["methods"])
    if args.references:
        from pipelines.report.references import evaluate_references

        _step(f"scoring against {args.references}")
        references = evaluate_references(args.triplets, args.references, **ref_options)
    if args.compare:
        from pipelines.report.compare import compare_runs

        _step(f"comparing with {args.compare}")
        compare = compare_runs(args.triplets, args.compare, **options)
        if args.references:
            from pipelines.report.compare import shared_tracks
            from pipelines.report.references import evaluate_references

            shared = shared_tracks(args.triplets, args.compare)[0]
            compare["references"] = {
                run_name: evaluate_references(folder, args.references, only_tracks=shared, **ref_options)
                for run_name, folder in (("a", args.triplets), ("b", args.compare))}
    html = render(run, tagger=tagger, references=references, compare=compare, seed=args.seed,
                  text_sample=args.text_sample)
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(html)
    log.info("report: %d bytes in %.1f s", len(html.encode("utf-8")), time.perf_counter() - started)
    print(os.path.abspath(args.out))
    return 0
