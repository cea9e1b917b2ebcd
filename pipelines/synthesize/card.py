"""A dataset card (README.md) beside the triplets: what is in the folder, how it was made, how to load it."""
from __future__ import annotations

import json

from pipelines.io import outputs


def card_text(summary: dict) -> str:
    c = summary["counts"]
    # the committed files by name, not a glob: a glob could also match files of a run killed mid-commit
    files = [outputs.basename(f) for f in summary["outputs"]["triplets"]]
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *[f"  - {name}" for name in files],
        "---",
        "# Synthesized music descriptions (viml-synth)",
        "",
        f"{c['texts']} texts for {c['tracks']} tracks: {', '.join(summary['per_method'])}, "
        f"{c['samples_per_track']} sample(s) per track and method, seed {summary['seed']}.",
        f"{c['failed']} texts could not be written and {c['bad_input_rows']} input rows could not be read: "
        "see `errors-*.parquet` (each with its reason).",
        "",
        "```python",
        "import datasets, json",
        '# summary.json lists the files of the last complete run (a glob could also match a killed run\'s)',
        'files = json.load(open("summary.json"))["_commit"]["files"]["triplets"]',
        'ds = datasets.load_dataset("parquet", data_files=files, split="train")',
        "```",
        "",
        "| method | texts | failed |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {v['texts']} | {v['failed']} |" for m, v in summary["per_method"].items()]
    lines += [
        "",
        "Columns: `video_id`, `music_id`, `method`, `sample`, `text`, `tags` (the tags that went in), `metadata`",
        "(row seed, templates or prompt and examples with version hashes, model and parameters, cache key,",
        "attempts, latency, fidelity: which input tags the text mentions and which vocabulary tags it names",
        "without support).",
        "",
        f"Inputs: `{summary['inputs']}`. Tag selection: `{json.dumps(summary['selection'])}`.",
        f"Made with viml-synth {summary['versions'].get('viml-synth')} on {summary['finished_at']};",
        "`summary.json` holds every option, so the run can be repeated exactly.",
        "",
    ]
    return "\n".join(lines)

