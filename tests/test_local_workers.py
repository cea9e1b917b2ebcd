"""`--workers N` on the local runner: N worker processes that log at the launcher's level."""
import json
import os
import subprocess
import sys

from pipelines.local_worker import LEVEL_ENV


def _tag(tmp_path, *extra, env=None):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("".join(json.dumps({"music_id": f"clip{i:02d}", "tags": [{"tag": "rock", "confidence": 0.7}]})
                                + "\n" for i in range(8)))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "tag", "--tagger", f"precomputed:{manifest}",
                           "--out", str(tmp_path / "out"), "--workers", "2", *extra],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]["tagged"] == 8
    return done.stderr


def test_workers_do_not_print_beams_start_up_chatter(tmp_path):
    """Beam's own worker entry point printed ~20 INFO lines per worker (channels established, harness
    starting and exiting) and start-up warnings, whatever --log-level said."""
    err = _tag(tmp_path)
    for chatter in ("Logging handler created", "Control channel established", "sdk harness", "apitools",
                    "semi_persistent_directory", "direct_running_mode", "Pipeline_options"):
        assert chatter.lower() not in err.lower(), err


def test_workers_follow_the_launchers_debug_level(tmp_path):
    # a level left in the environment by an earlier run in the parent process does not win over --log-level
    err = _tag(tmp_path, "--log-level", "DEBUG", env={**os.environ, LEVEL_ENV: "WARNING"})
    assert "Control channel established" in err  # Beam's worker INFO lines, as asked for
