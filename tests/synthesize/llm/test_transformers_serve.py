"""`synthesize --methods prompt2text` through `transformers serve`, a server no one here wrote (transformers'
own OpenAI-compatible server), with `--llm-api completions` and `chat`, on a tiny GPT-2 trained here for
half a minute on committed MusicCaps captions. That server samples only when the request's
generation_config says do_sample (temperature alone leaves it greedy, and the tiny model then loops):
the openai backend sends it, and draws a looping completion again with the next seed."""
import glob
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_OK, main
from pipelines.synthesize.llm import GenerationParams, LLMRequest, LLMResult, make_backend
from pipelines.testing.tiny_lm import build_caption_lm, caption_texts
from pipelines.testing.transformers_serve import ServeUnavailable, TransformersServe, serve_command

ROOT = Path(__file__).resolve().parents[3]
TRACKS = [("r1", ["rock", "electric guitar", "drums", "energetic"]), ("j1", ["jazz", "saxophone", "piano"]),
          ("c1", ["classical", "violin", "sad", "strings"]), ("e1", ["electronic", "synthesizer", "dance"]),
          ("f1", ["folk", "acoustic guitar", "male vocals"]), ("h1", ["hip hop", "bass", "rap"])]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    try:
        serve_command()
    except ServeUnavailable as exc:
        pytest.skip(str(exc))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-CPU machine
    try:
        model = build_caption_lm(tmp_path_factory.mktemp("tiny-lm"), caption_texts(ROOT), seconds=30)
    finally:
        torch.set_num_threads(threads)
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    try:
        with TransformersServe(model, log_path=log) as server:
            yield server
    except ServeUnavailable as exc:
        pytest.fail(f"{exc}\n{log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def inputs(tmp_path):
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": m, "tags": t}) + "\n" for m, t in TRACKS))
    return tags


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_prompt2text_through_transformers_serve(served, inputs, tmp_path, api):
    out = tmp_path / "out"
    rc = main(["synthesize", "--input", str(inputs), "--out", str(out), "--methods", "prompt2text",
               "--llm-base-url", f"{served.url}/v1", "--llm-model", served.model_dir, "--llm-api", api,
               "--k", "1", "--max-new-tokens", "40", "--max-concurrency", "2", "--max-attempts", "6",
               "--backoff-s", "0.01", "--no-cache", "--seed", "3", "--log-level", "WARNING"])
    summary = json.loads((out / "summary.json").read_text())
    rows = [r for f in sorted(glob.glob(f"{out}/triplets-*.parquet")) for r in pq.read_table(f).to_pylist()]
    errors = [r for f in sorted(glob.glob(f"{out}/errors-*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert rc == EXIT_OK and len(rows) == len(TRACKS), (summary, errors[:2])
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts) and all(len(t.split()) >= 3 for t in texts)
    for row in rows:
        meta = row["metadata"]
        assert meta["model"].startswith(served.model_dir)  # the server names the model it ran
        assert json.loads(meta["params"])["api"] == api


def test_sampling_is_switched_on_and_seeded(served):
    """Same seed, same text (the server seeds torch per request); another seed, another text; and
    without the generation_config hint the server decodes greedily whatever the temperature."""
    def one(seed, **options):
        backend = make_backend("openai", base_url=f"{served.url}/v1", model=served.model_dir, **options)
        try:
            [result] = backend.generate_many([LLMRequest(
                prompt="Tags: rock, electric guitar\nDescription:",
                params=GenerationParams(max_new_tokens=30, temperature=1.0, seed=seed))])
        finally:
            backend.close()
        assert isinstance(result, LLMResult), result
        return result.text

    sampled = {seed: one(seed) for seed in (1, 2, 3)}
    assert one(1) == sampled[1] and len(set(sampled.values())) == 3
    greedy = {one(seed, sampling_hint=False) for seed in (1, 2, 3)}
    assert len(greedy) == 1  # temperature alone: greedy, the seed changes nothing
