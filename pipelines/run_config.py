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
import shutil
import time

import yaml

STAGES = ("tag", "synthesize")
SHARED = ("runner", "workers", "seed", "log_level", "vocabulary")
LLM_ENV = {"llm_base_url": "VIML_SYNTH_LLM_BASE_URL", "llm_model": "VIML_SYNTH_LLM_MODEL",
           "llm_backend": "VIML_SYNTH_LLM_BACKEND"}


def _load(path: str) -> dict:
    from pipelines.cli import UsageError

    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise UsageError(f"{path}: expected a mapping")
    unknown = sorted(set(config) - set(STAGES) - set(SHARED) - {"out", "beam_args"})
    if unknown:
        raise UsageError(f"{path}: unknown top-level key(s): {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    if not any(s in config for s in STAGES):
        raise UsageError(f"{path}: no stage section ({', '.join(STAGES)})")
    return config


def _stage_args(parser: argparse.ArgumentParser, stage: str, section: dict, path: str) -> argparse.Namespace:
    """The stage's own parser with the section as defaults: same validation and defaults as the CLI."""
    from pipelines.cli import UsageError

    sub = parser._subparsers._group_actions[0].choices[stage]  # noqa: SLF001 - argparse has no API for this
    known = {a.dest for a in sub._actions}  # noqa: SLF001
    section = {k.replace("-", "_"): v for k, v in section.items()}
    unknown = sorted(k for k in section if k not in known)
    if unknown:
        raise UsageError(f"{path}: unknown option(s) for '{stage}': {', '.join(unknown)}")
    sub.set_defaults(**section)
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


def run_from_config(path: str, out: str | None, parser: argparse.ArgumentParser, beam_args: list[str]) -> int:
    from pipelines.cli import EXIT_OK, UsageError

    config = _load(path)
    out = out or config.get("out")
    if not out:
        raise UsageError(f"{path}: set `out` (or pass --out)")
    os.makedirs(out, exist_ok=True)
    started, record = time.time(), {"config": os.path.abspath(path), "out": out, "stages": {}, "skipped": {}}
    for stage in STAGES:
        if stage not in config:
            continue
        section = {k: config[k] for k in SHARED if k in config and k != "seed"}
        if stage == "synthesize" and "seed" in config:
            section["seed"] = config["seed"]
        section.update(config[stage] or {})
        section.setdefault("out", os.path.join(out, "tags" if stage == "tag" else "triplets"))
        if stage == "synthesize":
            section.setdefault("input", os.path.join(out, "tags", "tags-*.parquet"))
            reason = _skip_prompt2text(section)
            if reason:
                print(f"skipping prompt2text: {reason}")
                record["skipped"]["prompt2text"] = reason
        args = _stage_args(parser, stage, section, path)
        print(f"== {stage} -> {args.out}")
        status = args.func(args, list(config.get("beam_args", [])) + beam_args)
        record["stages"][stage] = {"exit_status": status, "out": args.out, "summary": os.path.join(args.out, "summary.json")}
        if status != EXIT_OK:
            break
    shutil.copyfile(path, os.path.join(out, "config.yaml"))  # the exact config, for a repeat run
    record["wall_s"] = round(time.time() - started, 3)
    with open(os.path.join(out, "run_summary.json"), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
    return max((s["exit_status"] for s in record["stages"].values()), default=EXIT_OK)
