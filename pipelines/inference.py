"""Model inference through Beam's RunInference, shared by the tag and features stages.

`ComponentHandler` is a Beam `ModelHandler` around one of our components (a tagger backend or a
feature encoder):
- `load_model` builds the component's state once per worker process; it goes through
  `pipelines.shared_state` with the same `Shared` handle as the prepare step, so a model whose
  prepare step also needs the state (hf feature extractor, precomputed table) is loaded only once;
- `batch_elements_kwargs` sizes batches in model units (patches, frames, windows, texts), so a batch
  of many short clips and one block of a long file cost the same memory;
- `run_inference` returns one `Outcome` per element, in order: its prediction, or the error that is
  that element's alone. When a whole batch fails, the failure is logged once with its error and the
  elements are retried one by one, so one bad element never takes its batch's others down;
- `share_model_across_processes` stays False: with the local multi-process runner every worker
  process should compute (a model shared across processes runs all inference in one process and
  ships every batch over a socket).

RunInference records its own metrics (batch sizes, inference latency, model load time) under the
handler's namespace; `inference_metrics` reads them back for summary.json.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apache_beam.ml.inference.base import ModelHandler
from apache_beam.utils.shared import Shared

from pipelines.shared_state import acquire_holder

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """The result of one element: `value` when it succeeded, else `error` (never both)."""

    element: Any
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ComponentHandler(ModelHandler):
    """Subclasses say how to predict a batch (`predict`) and how big an element is (`units`)."""

    def __init__(self, component, shared: Shared, state_key: str, threads: int | None, max_units: int,
                 namespace: str, what: str):
        super().__init__()
        self.component, self.shared, self.state_key, self.threads = component, shared, state_key, threads
        self.max_units, self.namespace, self.what = max(1, int(max_units)), namespace, what

    # ------------------------------------------------------------------ what subclasses provide
    def predict(self, state, batch: Sequence[Any]) -> list[Any]:
        """One prediction per element, in order; raise when the batch as a whole fails."""
        raise NotImplementedError

    def units(self, element) -> int:
        """How many model units (patches, frames, texts) an element holds, for batch sizing."""
        return 1

    def check(self, element, value) -> None:
        """Raise when a prediction is unusable (e.g. non-finite features): the element's error."""

    # ------------------------------------------------------------------ ModelHandler
    def load_model(self):
        return acquire_holder(self.shared, self.state_key, self.component.load, self.threads, what=self.what)

    def run_inference(self, batch: Sequence[Any], model, inference_args=None) -> Iterable[Outcome]:
        try:
            values = self.predict(model.state, batch)
            if len(values) != len(batch):
                raise RuntimeError(f"{self.what} returned {len(values)} results for {len(batch)} inputs")
        except Exception as exc:  # noqa: BLE001 - isolate the element(s) at fault below
            if len(batch) > 1:
                log.warning("%s: a batch of %d inputs failed (%s: %s); retrying them one by one",
                            self.what, len(batch), type(exc).__name__, exc)
            return [self._one(model.state, element, exc if len(batch) == 1 else None) for element in batch]
        return [self._checked(element, value) for element, value in zip(batch, values, strict=True)]

    def _one(self, state, element, known_error: BaseException | None) -> Outcome:
        if known_error is not None:
            return Outcome(element, error=known_error)
        try:
            return self._checked(element, self.predict(state, [element])[0])
        except Exception as exc:  # noqa: BLE001 - this element's error, not the run's
            return Outcome(element, error=exc)

    def _checked(self, element, value) -> Outcome:
        try:
            self.check(element, value)
        except Exception as exc:  # noqa: BLE001
            return Outcome(element, error=exc)
        return Outcome(element, value)

    def batch_elements_kwargs(self):
        # Fixed-size batches: the forward pass size is what bounds memory. An element counts at most a
        # whole batch: BatchElements flushes the running batch before an element that would overflow it,
        # even an empty one, so a bigger element (a long video's frames) would first make an empty batch;
        # counted as a full batch it travels alone.
        return {"min_batch_size": self.max_units, "max_batch_size": self.max_units,
                "element_size_fn": self._batch_units}

    def _batch_units(self, element) -> int:
        return min(self.units(element), self.max_units)

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        # Beam's default pickles the whole batch just to measure it; the units are what matter here
        return sum(self.units(e) for e in batch)

    def get_metrics_namespace(self) -> str:
        return self.namespace

    def share_model_across_processes(self) -> bool:
        return False

    def model_copies(self) -> int:
        return 1


def inference_metrics(result, namespaces: Iterable[str]) -> dict:
    """RunInference's own metrics per namespace: batch sizes, latency per element, model loading."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, dict] = {}
    for ns in namespaces:
        try:
            found = result.metrics().query(MetricsFilter().with_namespace(ns))
        except Exception:  # noqa: BLE001 - some runners report no metrics
            continue
        counters = _by_name(found["counters"], lambda v: v)
        dists = _by_name(found["distributions"], lambda v: v)
        elements = int(counters.get("num_inferences", 0))
        sizes, latency = dists.get("inference_request_batch_size"), dists.get("inference_batch_latency_micro_secs")
        load = dists.get("load_model_latency_milli_secs")
        out[ns] = {
            "elements": elements,
            "batches": sizes.count if sizes else 0,
            "batch_size": ({"min": sizes.min, "max": sizes.max, "mean": round(sizes.sum / sizes.count, 2)}
                           if sizes and sizes.count else None),
            "inference_ms_per_element": (round(latency.sum / 1000 / elements, 3) if latency and elements else None),
            "inference_s": round(latency.sum / 1e6, 3) if latency else None,
            "failed_batches": int(counters.get("failed_batches_counter", 0)),
            "model_loads": load.count if load else 0,
            "model_load_ms_max": load.max if load and load.count else None,
        }
    return out


@dataclass
class _Dist:
    sum: float
    count: int
    min: float
    max: float


def _by_name(results, value: Callable) -> dict:
    """Metric name -> value, summed over steps (a counter) or merged (a distribution)."""
    merged: dict = {}
    for r in results:
        v = r.committed if r.committed is not None else r.attempted
        if v is None:
            continue
        if hasattr(v, "count"):
            if not v.count:
                continue
            v = _Dist(v.sum, v.count, v.min, v.max)
        name = r.key.metric.name
        old = merged.get(name)
        if isinstance(old, _Dist):
            v = _Dist(old.sum + v.sum, old.count + v.count, min(old.min, v.min), max(old.max, v.max))
        elif old is not None:
            v = old + v
        merged[name] = value(v)
    return merged
