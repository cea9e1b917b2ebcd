"""`viml-synth run --config FILE`: every stage of the job from one YAML file, recorded with its outputs.

    out: runs/demo                # stage outputs: <out>/tags, <out>/triplets
    seed: 0
    runner: local                 # shared by every stage unless a section sets its own
    tag: {manifest: demo/manifest.csv, tagger: musicnn}
    synthesize: {methods: "tags,data2text,prompt2text", samples_per_track: 2}

A section's keys are its command's long options with `_` (see `viml-synth tag --help`). prompt2text is
skipped, with the reason printed, when no LLM endpoint is configured (`llm_base_url` in the section or
VIML_SYNTH_LLM_BASE_URL / VIML_SYNTH_LLM_MODEL / VIML_SYNTH_LLM_BACKEND in the environment).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from pipelines.cli_common import (
    EXIT_OK,
    UsageError,
    load_config,
    section_of,
    subcommand_parser,
    validated_defaults,
)
from pipelines.io.redact import redact_text

STAGES = ("tag", "synthesize")
SHARED = ("runner", "workers", "seed", "log_level", "vocabulary")
LLM_ENV = {"llm_base_url": "VIML_SYNTH_LLM_BASE_URL", "llm_model": "VIML_SYNTH_LLM_MODEL",
           "llm_backend": "VIML_SYNTH_LLM_BACKEND"}


def _load(path: str) -> dict:
    config = load_config(path)
    unknown = sorted(set(config) - set(STAGES) - set(SHARED) - {"out", "beam_args"})
    if unknown:
        raise UsageError(f"{path}: unknown top-level key(s): {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    if not any(s in config for s in STAGES):
        raise UsageError(f"{path}: no stage section ({', '.join(STAGES)})")
    for stage in STAGES:
        section_of(config, stage, path)  # a section given as a scalar is named now
    if "out" in config and not isinstance(config["out"], str):
        raise UsageError(f"{path}: out: expected a string (a folder), got {config['out']!r}")
    beam_args = config.get("beam_args", [])
    if not isinstance(beam_args, list) or not all(isinstance(a, str) for a in beam_args):
        raise UsageError(f"{path}: beam_args must be a list of strings")
    return config


def _stage_args(parser: argparse.ArgumentParser, stage: str, config: dict, path: str) -> argparse.Namespace:
    """The stage's own parser with its section as defaults: the same checks and defaults as the CLI. Keys
    shared at the top level are checked first, so an error names where the value was written."""
    sub = subcommand_parser(parser, stage)
    shared = {k: config[k] for k in SHARED if k in config and (k != "seed" or stage == "synthesize")}
    values = validated_defaults(sub, shared, f"{path}, top level", passthrough=())
    values.update(validated_defaults(sub, section_of(config, stage, path), f"{path}, section '{stage}'"))
    sub.set_defaults(**values)
    return sub.parse_args([])


def _skip_prompt2text(section: dict) -> str | None:
    """Why prompt2text cannot run (None when it can); fills the endpoint from the environment."""
    methods = [m.strip() for m in str(section.get("methods", "tags,data2text")).split(",")]
    if "prompt2text" not in methods:
        return None
    for key, env in LLM_ENV.items():
        if not section.get(key) and os.environ.get(env):
            section[key] = os.environ[env]
    backend = section.get("llm_backend", "openai")
    if section.get("llm_base_url") or (backend == "transformers" and section.get("llm_model")) \
            or backend == "hf-inference":
        return None
    section["methods"] = ",".join(m for m in methods if m != "prompt2text")
    return ("no LLM endpoint configured (set synthesize.llm_base_url in the config, or "
            "VIML_SYNTH_LLM_BASE_URL and VIML_SYNTH_LLM_MODEL; see README 'prompt2text')")


def _plan(config: dict, out: str, path: str, parser: argparse.ArgumentParser) -> tuple[list, dict]:
    """Every stage's arguments, checked before the first stage starts: a bad value in the last section
    must not cost the user a finished tag run."""
    planned, skipped = [], {}
    for stage in STAGES:
        if stage not in config:
            continue
        section = dict(section_of(config, stage, path))
        section.setdefault("out", os.path.join(out, "tags" if stage == "tag" else "triplets"))
        if stage == "synthesize":
            section.setdefault("input", os.path.join(out, "tags", "tags-*.parquet"))
            reason = _skip_prompt2text(section)
            if reason:
                skipped["prompt2text"] = reason
        args = _stage_args(parser, stage, {**config, stage: section}, path)
        if stage == "synthesize":
            from pipelines.synthesize.build import check_options

            try:
                check_options(args)
            except ValueError as exc:
                raise UsageError(f"{path}, section 'synthesize': {exc}") from exc
        planned.append((stage, args))
    return planned, skipped


def run_from_config(path: str, out: str | None, parser: argparse.ArgumentParser, beam_args: list[str]) -> int:
    config = _load(path)
    out = out or config.get("out")
    if not out:
        raise UsageError(f"{path}: set `out` (or pass --out)")
    planned, skipped = _plan(config, out, path, parser)
    os.makedirs(out, exist_ok=True)
    started, record = time.time(), {"config": os.path.abspath(path), "out": out, "stages": {}, "skipped": skipped}
    for reason in skipped.values():
        print(f"skipping prompt2text: {reason}")
    for stage, args in planned:
        print(f"== {stage} -> {args.out}")
        status = args.func(args, list(config.get("beam_args", [])) + beam_args)
        record["stages"][stage] = {"exit_status": status, "out": args.out,
                                   "summary": os.path.join(args.out, "summary.json")}
        if status != EXIT_OK:
            break
    with open(path, encoding="utf-8") as src, open(os.path.join(out, "config.yaml"), "w", encoding="utf-8") as dst:
        dst.write(redact_text(src.read()))  # the exact config, for a repeat run (less any URL password)
    record["wall_s"] = round(time.time() - started, 3)
    with open(os.path.join(out, "run_summary.json"), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
    return max((s["exit_status"] for s in record["stages"].values()), default=EXIT_OK)
