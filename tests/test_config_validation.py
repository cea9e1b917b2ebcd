"""Config files are checked like command-line flags: same types, same choices, before any stage runs."""
from pathlib import Path

import pytest
import yaml

from pipelines.cli import EXIT_BAD_INPUT, main


def _write(tmp_path, config, name="job.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _run(tmp_path, config, capsys):
    code = main(["run", "--config", _write(tmp_path, config)])
    return code, capsys.readouterr()


BASE = {"out": "OUT", "tag": {"manifest": "demo/manifest.csv", "tagger": "musicnn"},
        "synthesize": {"methods": "tags"}}


@pytest.mark.parametrize("stage, key, value, words", [
    ("tag", "batch_clips", [16], ["batch_clips", "int"]),
    ("tag", "batch_clips", 2.5, ["batch_clips", "int"]),
    ("tag", "manifest_format", "xml", ["manifest_format", "xml", "csv"]),
    ("synthesize", "llm_backend", "bogus", ["llm_backend", "bogus", "openai"]),
    ("synthesize", "samples_per_track", "two", ["samples_per_track", "int"]),
    ("synthesize", "threshold", [0.1], ["threshold", "float"]),
    ("synthesize", "no_cache", "yes", ["no_cache", "true or false"]),
    ("synthesize", "methods", ["tags"], ["methods", "string"]),
    ("synthesize", "stop", [["\\n"]], ["stop", "string"]),
])
def test_bad_values_in_a_run_config_exit_2_naming_file_section_and_key(tmp_path, capsys, stage, key, value, words):
    config = {**BASE, "out": str(tmp_path / "out"), stage: {**BASE[stage], key: value}}
    code, io = _run(tmp_path, config, capsys)
    assert code == EXIT_BAD_INPUT
    assert "job.yaml" in io.err and f"{stage}" in io.err
    for word in words:
        assert word in io.err, (word, io.err)
    assert "Traceback" not in io.err
    # nothing ran: the tag stage did not start (no output folder for it)
    assert not (tmp_path / "out" / "tags").exists()


def test_run_checks_synthesize_section_before_tag_runs(tmp_path, capsys):
    config = {**BASE, "out": str(tmp_path / "out"), "synthesize": {"methods": "tags", "max_tags": "many"}}
    code, io = _run(tmp_path, config, capsys)
    assert code == EXIT_BAD_INPUT and "synthesize" in io.err and "max_tags" in io.err
    assert not (tmp_path / "out" / "tags").exists()


def test_run_rejects_unknown_method_before_tag_runs(tmp_path, capsys):
    config = {**BASE, "out": str(tmp_path / "out"), "synthesize": {"methods": "tags,poetry"}}
    code, io = _run(tmp_path, config, capsys)
    assert code == EXIT_BAD_INPUT and "poetry" in io.err
    assert not (tmp_path / "out" / "tags").exists()


@pytest.mark.parametrize("section", ["tag", "synthesize"])
def test_a_section_given_as_a_scalar_is_named(tmp_path, capsys, section):
    config = {**BASE, "out": str(tmp_path / "out"), section: "musicnn"}
    code, io = _run(tmp_path, config, capsys)
    assert code == EXIT_BAD_INPUT
    assert f"section '{section}'" in io.err and "mapping" in io.err
    assert "dictionary update sequence" not in io.err


def test_shared_keys_are_checked_too(tmp_path, capsys):
    config = {**BASE, "out": str(tmp_path / "out"), "workers": "two"}
    code, io = _run(tmp_path, config, capsys)
    assert code == EXIT_BAD_INPUT and "workers" in io.err and "int" in io.err


def test_stage_config_flag_is_checked_like_the_cli(tmp_path, capsys):
    path = _write(tmp_path, {"synthesize": {"llm_api": "telepathy"}})
    code = main(["synthesize", "--config", path, "--input", "x.jsonl", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "llm_api" in err and "telepathy" in err and "synthesize" in err


def test_stage_config_section_as_scalar(tmp_path, capsys):
    path = _write(tmp_path, {"tag": 3})
    code = main(["tag", "--config", path, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "section 'tag'" in err


def test_valid_values_are_converted_like_flags(tmp_path):
    """A float given where a float belongs as an int, and a number for a string option, are accepted."""
    from pipelines.cli import build_parser
    from pipelines.cli_common import apply_section

    parser = build_parser()
    args = apply_section(parser, "synthesize", {"threshold": 0, "seed": 3, "llm_model": "m", "stop": ["\n"],
                                                 "no_cache": True, "input": "a", "out": "b"}, "c.yaml")
    assert args.threshold == 0.0 and isinstance(args.threshold, float)
    assert args.seed == 3 and args.stop == ["\n"] and args.no_cache is True


def test_a_method_named_twice_is_a_usage_error_not_a_traceback(tmp_path, capsys):
    tags = tmp_path / "in.jsonl"
    tags.write_text('{"music_id": "a", "tags": ["rock", "guitar", "happy"]}\n')
    code = main(["synthesize", "--input", str(tags), "--out", str(tmp_path / "out"), "--methods", "tags,tags"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "given more than once" in err and "Traceback" not in err


@pytest.mark.parametrize("flags, words", [
    (["--threshold", "1.5"], ["--threshold", "1.5"]),
    (["--max-tags", "0"], ["--max-tags"]),
    (["--min-tags", "9", "--max-tags", "4"], ["--min-tags", "--max-tags"]),
    (["--methods", "prompt2text", "--max-concurrency", "0"], ["--max-concurrency"]),
    (["--methods", "prompt2text", "--top-p", "0"], ["--top-p"]),
    (["--methods", "prompt2text", "--timeout-s", "0"], ["--timeout-s"]),
])
def test_out_of_range_values_are_refused_before_the_pipeline(tmp_path, capsys, flags, words):
    tags = tmp_path / "in.jsonl"
    tags.write_text('{"music_id": "a", "tags": ["rock", "guitar", "happy"]}\n')
    argv = ["synthesize", "--input", str(tags), "--out", str(tmp_path / "out"), "--methods", "tags",
            "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", *flags]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "Traceback" not in err and "while running" not in err
    for word in words:
        assert word in err, (word, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [["--batch-clips", "0"], ["--hf-window-s", "0"]])
def test_tag_batch_and_window_are_checked_before_the_pipeline(tmp_path, capsys, flags):
    manifest = str(Path(__file__).resolve().parents[1] / "demo" / "manifest.csv")
    code = main(["tag", "--manifest", manifest, "--out", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and flags[0] in err and "Minimum" not in err


def test_a_missing_precomputed_tags_file_is_named_before_the_pipeline(tmp_path, capsys):
    manifest = str(Path(__file__).resolve().parents[1] / "demo" / "manifest.csv")
    code = main(["tag", "--manifest", manifest, "--out", str(tmp_path / "out"),
                 "--tagger", f"precomputed:{tmp_path / 'nope.csv'}"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "nope.csv" in err and "while running" not in err
