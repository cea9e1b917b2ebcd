"""The step that turns one input into what a model's batch step consumes, shared by the tag stage
(audio -> patches) and the features stage (video -> frames, audio -> patches, text as is).

A component (a tagger backend or an encoder) offers `prepare(item, state)` and says whether preparing
needs its loaded state (`prepare_needs_state()`); the state is loaded once per worker process. A failure
is that input's error, sent to the `errors` output with its reason, never the run's. A step may turn
one input into several outputs (`prepared()`, e.g. the blocks of a long audio file).
"""
from __future__ import annotations

import abc

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.io.errors import error_from_exception

ERRORS = "errors"


class PrepareStep(beam.DoFn, abc.ABC):
    def __init__(self, component, stage: str, namespace: str, failed_counter: str):
        self.component, self.stage = component, stage
        self.failed = Metrics.counter(namespace, failed_counter)

    @abc.abstractmethod
    def load_state(self):
        """The component's loaded state (shared by the worker's steps)."""

    @abc.abstractmethod
    def error_id(self, item) -> str | None: ...

    @abc.abstractmethod
    def error_ref(self, item): ...

    def prepared(self, item):
        """What one input becomes: by default the component's single `prepare()` result."""
        return [self.component.prepare(item, self.state)]

    def failure(self, item, exc: Exception, emitted: int):
        """The output for a failed input (`emitted`: how many of its outputs were already sent on)."""
        return beam.pvalue.TaggedOutput(ERRORS, error_from_exception(self.error_id(item), self.stage, exc,
                                                                     self.error_ref(item)))

    def setup(self):
        self.state = self.load_state() if self.component.prepare_needs_state() else None

    def process(self, item):
        emitted = 0
        try:
            for out in self.prepared(item):
                emitted += 1
                yield out
        except Exception as exc:  # any failure on one input is that input's error, not the run's
            self.failed.inc()
            yield self.failure(item, exc, emitted)
