"""Fixtures shared by the synthesize tests."""
import pytest

from pipelines.testing.llm_server import LLMServer


@pytest.fixture
def server():
    """A loopback LLM server with default behaviour (tests/synthesize/llm has its own, with examples)."""
    with LLMServer() as s:
        yield s
