import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import EXIT_BAD_INPUT, EXIT_NOTHING_DONE, EXIT_OK, main


@pytest.mark.parametrize("command", [[], ["tag"], ["show"], ["weights"]])
def test_help_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: viml-synth" in capsys.readouterr().out


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("viml-synth ")


def _tags_file(tmp_path, rows):
    path = tmp_path / "tags.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tag_precomputed_with_config_file(tmp_path, capsys):
    tags = _tags_file(tmp_path, [{"music_id": "a", "tags": ["rock"]}, {"music_id": "b", "tags": "oops, 2"}])
    config = tmp_path / "c.yaml"
    config.write_text(f"tagger: precomputed:{tags}\nout: {tmp_path / 'from-config'}\nbatch_clips: 4\n")
    assert main(["tag", "--config", str(config), "--out", str(tmp_path / "out"), "--log-level", "WARNING"]) == EXIT_OK
    assert "tagged 2 of 2 inputs" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())  # the flag beat the config
    assert summary["options"]["batch_clips"] == 4 and summary["options"]["config"] == str(config)
    assert main(["show", str(tmp_path / "out")]) == EXIT_OK
    assert "rock 1.00" in capsys.readouterr().out


def test_nothing_tagged_exits_1(tmp_path):
    tags = _tags_file(tmp_path, [{"music_id": "a", "tags": [{"tag": "rock", "confidence": 9}]}])
    assert main(["tag", "--tagger", f"precomputed:{tags}", "--out", str(tmp_path / "o"), "--log-level", "ERROR"]) \
        == EXIT_NOTHING_DONE


@pytest.mark.parametrize("argv,message", [
    (["tag", "--manifest", "nope.csv", "--out", "o"], "manifest nope.csv does not exist"),
    (["tag", "--manifest", "m.csv"], "--out is required"),
    (["tag", "--tagger", "magic", "--out", "o"], "unknown tagger 'magic'"),
    (["tag", "--config", "missing.yaml"], "cannot read config missing.yaml"),
])
def test_bad_invocations_exit_2_with_clear_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_unknown_config_key_is_named(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("taggr: musicnn\n")
    assert main(["tag", "--config", str(config)]) == EXIT_BAD_INPUT
    assert "unknown option(s) for 'tag': taggr" in capsys.readouterr().err


def test_http_clients_do_not_log_every_request():
    import logging

    main(["evaluate-text", "--log-level", "INFO"])  # a usage error, raised after logging is set up
    assert {logging.getLogger(name).getEffectiveLevel() for name in ("httpx2", "apache_beam")} == {logging.WARNING}


def test_info_log_lines_reach_stderr(tmp_path):
    """Importing Beam configures the root logger first; --log-level INFO must still show our lines."""
    manifest = Path(__file__).resolve().parent.parent / "demo" / "manifest.csv"
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "tag", "--manifest", str(manifest),
                             "--out", str(tmp_path / "out"), "--max-duration-s", "3", "--log-level", "INFO"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "INFO viml-synth: manifest" in result.stderr
