"""Torch threads per local worker: 1 by default (parallelism comes from --workers), $VIML_TORCH_THREADS
overrides it, a bad value is a clear error."""
import pytest

from pipelines.options import THREADS_ENV, torch_threads_per_worker


def test_one_thread_per_worker_by_default(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert [torch_threads_per_worker(w) for w in (1, 2, 8)] == [1, 1, 1]


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert torch_threads_per_worker(2) == 3
    for bad in ("0", "two"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            torch_threads_per_worker(1)
