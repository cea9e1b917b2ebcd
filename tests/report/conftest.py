"""Fixtures of the report tests (writers in report_fixtures.py)."""
from pathlib import Path

import pytest
from report_fixtures import write_run


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return write_run(tmp_path / "run", errors=[("x.jsonl:3", "input", "malformed_row"),
                                               ("d", "data2text", "template_error"),
                                               ("e", "data2text", "template_error")])
