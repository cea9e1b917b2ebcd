"""A credential written into the endpoint URL (user:password@host, ?api_key=...) is used for the requests
but never recorded: not in the triplets' metadata, summary.json, the dataset card, the run record or logs."""
import json
import os

from pipelines.cli import EXIT_OK, main
from pipelines.io.redact import redact_url
from pipelines.testing.llm_server import LLMServer

SECRET = "s3cretPW_do_not_record_42"


def test_redact_url_hides_userinfo_and_secret_query_values():
    assert redact_url(f"https://bob:{SECRET}@llm.example.org/v1") == "https://***@llm.example.org/v1"
    assert SECRET not in redact_url(f"http://127.0.0.1:8000/v1?api_key={SECRET}&x=1")
    assert "x=1" in redact_url(f"http://127.0.0.1:8000/v1?api_key={SECRET}&x=1")
    assert SECRET not in redact_url(f"http://127.0.0.1:8000/v1?token={SECRET}")
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"
    assert redact_url(None) is None


def test_a_password_in_the_base_url_is_never_written(tmp_path, capfd):
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": f"m{i}", "tags": ["rock", "guitar", "happy"]}) + "\n"
                            for i in range(3)))
    out = tmp_path / "out"
    with LLMServer() as server:
        url = server.url.replace("http://", f"http://bob:{SECRET}@") + "/v1"
        code = main(["synthesize", "--input", str(tags), "--out", str(out), "--methods", "prompt2text",
                     "--llm-base-url", url, "--llm-model", "m", "--cache-dir", str(tmp_path / "cache"),
                     "--log-level", "DEBUG"])
        assert server.count >= 3
    captured = capfd.readouterr()
    assert code == EXIT_OK
    assert SECRET not in captured.out and SECRET not in captured.err
    for root, _, names in os.walk(tmp_path):
        for name in names:
            path = os.path.join(root, name)
            if path == str(tags):
                continue
            with open(path, "rb") as fh:
                assert SECRET.encode() not in fh.read(), path


def test_a_password_in_an_unreachable_base_url_is_not_in_errors_or_stderr(tmp_path, capfd):
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tags = tmp_path / "tags.jsonl"
    tags.write_text(json.dumps({"music_id": "m0", "tags": ["rock", "guitar", "happy"]}) + "\n")
    out = tmp_path / "out"
    main(["synthesize", "--input", str(tags), "--out", str(out), "--methods", "prompt2text",
          "--llm-base-url", f"http://bob:{SECRET}@127.0.0.1:{port}/v1?api_key={SECRET}", "--llm-model", "m",
          "--no-cache", "--max-attempts", "1", "--log-level", "DEBUG"])
    captured = capfd.readouterr()
    assert SECRET not in captured.out and SECRET not in captured.err
    for root, _, names in os.walk(out):
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                assert SECRET.encode() not in fh.read(), name
