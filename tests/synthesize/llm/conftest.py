"""What the backend tests share: the loopback server, and backends that are closed after each test."""
import pytest

from pipelines.synthesize.llm import make_backend
from pipelines.testing.llm_server import LLMServer

FAST = dict(backoff_base_s=0.01, backoff_max_s=0.05)  # real retries, tiny waits


@pytest.fixture
def server():
    with LLMServer(next_example=True) as srv:
        yield srv


@pytest.fixture
def made_backends():
    """`make(kind, **options)`: a backend with fast retries, closed when the test ends."""
    made = []

    def make(kind, **options):
        backend = make_backend(kind, **{**FAST, **options})
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
