"""Secrets in the environment never appear in outputs, caches or logs, nor on the wire to a host they do
not belong to: `viml-synth synthesize --methods prompt2text` against loopback servers that record every
request, with OPENAI_API_KEY, HF_TOKEN and a user-named key all set, and a server that echoes the key
back in its error messages (real servers do)."""
import json
import logging
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.testing.llm_server import LLMServer

OPENAI = "sk-openai-E2E-SECRET-987654321"
HF = "hf_E2E_SECRET_987654321abcdef"
MINE = "mine-E2E-SECRET-987654321"
SECRETS = (OPENAI, HF, MINE)
TRACKS = [("a", ["rock", "electric guitar", "angry"]), ("b", ["jazz", "saxophone", "relaxing"]),
          ("c", ["folk", "acoustic guitar", "sad"])]
POOL = [{"id": "e1", "tags": ["rock", "guitar"], "description": "A loud rock song with electric guitars."},
        {"id": "e2", "tags": ["jazz", "saxophone"], "description": "A smooth jazz tune led by a saxophone."}]


@pytest.fixture
def env(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("HF_TOKEN", HF)
    monkeypatch.setenv("MY_KEY", MINE)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": m, "tags": t}) + "\n" for m, t in TRACKS))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(e) + "\n" for e in POOL))
    return tmp_path


def run(env: Path, name: str, base_url: str, *extra: str) -> int:
    return main(["synthesize", "--input", str(env / "tags.jsonl"), "--out", str(env / name), "--methods",
                 "prompt2text", "--llm-base-url", base_url, "--llm-model", "m", "--examples", str(env / "pool.jsonl"),
                 "--k", "1", "--cache-dir", str(env / "cache"), "--backoff-s", "0.01", "--max-attempts", "2",
                 "--log-level", "DEBUG", *extra])


def assert_nowhere(env: Path, text: str):
    files = [p for p in env.rglob("*") if p.is_file() and p.name not in ("tags.jsonl", "pool.jsonl")]
    assert files, "the runs wrote nothing"
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret[:8]}... in {path}"
    for secret in SECRETS:
        assert secret not in text


def wire(server) -> set:
    return {r.header("authorization") for r in server.requests}


def test_secrets_stay_with_their_hosts(env, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    with LLMServer() as server:
        # 1. openai backend, nothing named: OPENAI_API_KEY (as the OpenAI client), never HF_TOKEN
        assert run(env, "out-openai", f"{server.url}/v1") == 0
        assert wire(server) == {f"Bearer {OPENAI}"}
        server.reset()
        # 2. a named key; the server rejects it once and echoes it back in the error
        server.faults.push(401, body=f"Incorrect API key provided: {MINE}", match="rock")
        run(env, "out-named", f"{server.url}/v1", "--llm-api-key-env", "MY_KEY", "--no-cache",
            "--http-transport", "lean")
        assert wire(server) == {f"Bearer {MINE}"}
        config = json.loads((env / "out-named" / "summary.json").read_text())["per_method"]["prompt2text"]["config"]
        assert (config["api_key_env"], config["http_transport"]) == ("MY_KEY", "lean")  # the name, not the key
        server.reset()
        # 3. someone else's TGI: no key at all (HF_TOKEN only goes to Hugging Face hosts)
        assert run(env, "out-tgi", server.url, "--llm-backend", "tgi", "--no-cache") == 0
        assert wire(server) == {None} and server.count == len(TRACKS)
    errors = list((env / "out-named").glob("errors-*.parquet"))
    assert errors, "the rejected key should have left an error row"
    out, err = capfd.readouterr()
    assert_nowhere(env, out + err + caplog.text)


def test_a_key_named_for_the_wrong_host_stops_before_any_request(env, capfd):
    rc = run(env, "out", "https://router.huggingface.co/v1", "--llm-api-key-env", "OPENAI_API_KEY")
    assert rc == 2 and "never sent to a Hugging Face host" in capfd.readouterr().err


def test_a_bad_transport_in_a_config_file_stops_before_any_request(env, capfd):
    config = env / "synth.yaml"
    config.write_text("http_transport: curl\n")
    rc = run(env, "out", "http://127.0.0.1:9/v1", "--config", str(config))
    assert rc == 2 and "http_transport" in capfd.readouterr().err
