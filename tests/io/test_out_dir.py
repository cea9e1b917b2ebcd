"""A stage refuses an output folder that holds another stage's run, so no summary.json is overwritten."""
import json

import pytest

from pipelines.cli import EXIT_BAD_INPUT, main
from pipelines.io.out_dir import check_out_dir, recorded_stage


def test_recorded_stage(tmp_path):
    assert recorded_stage(str(tmp_path)) is None
    (tmp_path / "summary.json").write_text(json.dumps({"stage": "tag"}))
    assert recorded_stage(str(tmp_path)) == "tag"
    check_out_dir(str(tmp_path), "tag")  # the same stage may rerun into its own folder
    with pytest.raises(ValueError, match="viml-synth tag"):
        check_out_dir(str(tmp_path), "synthesize")


def test_synthesize_into_the_tag_folder_exits_2_and_keeps_the_tag_summary(tmp_path, capsys):
    summary = {"stage": "tag", "counts": {"tagged": 3}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    tags = tmp_path / "in.jsonl"
    tags.write_text(json.dumps({"music_id": "m0", "tags": ["rock", "guitar", "happy"]}) + "\n")
    code = main(["synthesize", "--input", str(tags), "--out", str(tmp_path), "--methods", "tags"])
    assert code == EXIT_BAD_INPUT
    assert "holds the outputs of `viml-synth tag`" in capsys.readouterr().err
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


@pytest.mark.parametrize("out", ["afile", "afile/sub", "/proc/viml-synth-cannot-write-here"])
def test_an_unusable_out_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "in.jsonl").write_text(json.dumps({"music_id": "m0", "tags": ["rock", "guitar", "happy"]}) + "\n")
    code = main(["synthesize", "--input", "in.jsonl", "--out", out, "--methods", "tags"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "Traceback" not in err and out.split("/")[0] in err, err
    assert (tmp_path / "afile").read_text() == "x"


def test_show_of_a_missing_folder_says_so(tmp_path, capsys):
    assert main(["show", str(tmp_path / "nope")]) == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def _tags_input(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"music_id": "m0", "tags": ["rock", "guitar", "happy"]}) + "\n")
    return str(path)


def test_a_folder_being_written_by_a_live_run_is_refused(tmp_path, capsys):
    import os
    import socket

    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".lock"  # held by this very process: alive
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "stage": "synthesize"}))
    code = main(["synthesize", "--input", _tags_input(tmp_path), "--out", str(out), "--methods", "tags"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "being written by another run" in err and str(os.getpid()) in err
    assert lock.exists() and not list(out.glob("*.parquet"))


def test_a_lock_left_by_a_killed_run_is_taken_over_and_released(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid whose process has ended
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "stage": "tag"}))
    assert main(["synthesize", "--input", _tags_input(tmp_path), "--out", str(out), "--methods", "tags"]) == 0
    assert not (out / ".lock").exists() and list(out.glob("triplets-*.parquet"))
