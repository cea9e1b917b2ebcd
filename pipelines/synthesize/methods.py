"""The three synthesis methods behind one batch interface.

A method is a small picklable description; `setup()` builds its heavy parts on the worker (template
bank, rewriter model, LLM client, cache). `generate(items)` returns, per item and in order, a TextOut
or the exception that explains why that item has no text.
"""
from __future__ import annotations

import abc
import concurrent.futures
import json
import logging
import time
from dataclasses import dataclass, field

from pipelines.io import json_bytes
from pipelines.io.redact import redact_url
from pipelines.synthesize.work import TextOut, WorkItem

METHODS = ("tags", "data2text", "prompt2text")
CPU_BATCH = 64  # items per batch for methods that run in this process without a model
CACHE_WRITERS = 8  # threads writing LLM responses to the cache (a bucket write takes tens of ms)
log = logging.getLogger(__name__)


class Method(abc.ABC):
    name: str = ""
    vocabulary_path: str | None = None
    # Batches that may still be in progress when the next one starts (see start/finish): a remote
    # LLM answers one batch while this process prepares the next.
    overlap: int = 0

    def setup(self) -> None:
        from pipelines.synthesize.fidelity import matcher_for
        from pipelines.tag.vocabulary import Vocabulary

        self._matcher = matcher_for(Vocabulary.load(self.vocabulary_path))

    @abc.abstractmethod
    def generate(self, items: list[WorkItem]) -> list[TextOut | Exception]:
        ...

    def start(self, items: list[WorkItem]) -> object:
        """Begins a batch and returns a handle for `finish`; methods that can work in the background
        (remote requests) return before the batch is done. The default does all the work here."""
        return self.generate(items)

    def finish(self, started: object) -> list[TextOut | Exception]:
        """The batch's outputs, per item and in order (waits for background work)."""
        return started

    def describe(self) -> dict:
        return {"method": self.name}

    def fixed_batch_size(self) -> int | None:
        """Items per batch, or None to let Beam's BatchElements size batches by measured time (model-bound
        work). Fixed sizes also spare BatchElements its per-batch regression, a cost per row for the
        methods that take microseconds per row."""
        return None

    def teardown(self) -> None:
        """Releases what `setup` acquired; a hook, not abstract: most methods hold nothing."""
        return None

    def fidelity(self, text: str, tags) -> dict:
        from pipelines.synthesize.fidelity import fidelity

        return _fidelity_record(fidelity(text, list(tags), matcher=self._matcher))


class TagsMethod(Method):
    """The paper's `tags`: selected tags, shuffled with the row's seed, comma-joined."""

    name = "tags"

    def fixed_batch_size(self) -> int | None:
        return CPU_BATCH

    def generate(self, items: list[WorkItem]) -> list[TextOut | Exception]:
        from pipelines.synthesize.draws import shuffle
        from pipelines.synthesize.fidelity import fidelity_of_own_tags

        outs: list[TextOut | Exception] = []
        for item in items:
            tags = [t.tag for t in item.selected]
            shuffle(tags, item.rng())  # rng.shuffle's draws and order
            # the text is the tags joined: fidelity from each tag's cached scan (same result)
            fidelity = _fidelity_record(fidelity_of_own_tags(tags, item.selected, self._matcher))
            outs.append(TextOut(", ".join(tags), {"fidelity": fidelity}))
        return outs


@dataclass
class Data2TextMethod(Method):
    """Jinja templates per category, then a rewriter (built-in rules, or a seq2seq model)."""

    templates: str | None = None  # folder of user templates, added to the default ones
    rewriter: str = "builtin"  # builtin | hf:<seq2seq model id or path>
    vocabulary_path: str | None = None
    name: str = field(default="data2text", init=False)

    def setup(self) -> None:
        super().setup()
        from pipelines.synthesize.data2text.rewriter import BuiltinRewriter, Seq2SeqRewriter
        from pipelines.synthesize.data2text.templates import TemplateBank
        from pipelines.tag.vocabulary import Vocabulary

        self._bank = TemplateBank.load(self.templates, extend_default=True) if self.templates else TemplateBank.load()
        self._vocabulary = Vocabulary.load(self.vocabulary_path)
        builtin = BuiltinRewriter(self._bank)
        kind, _, model = self.rewriter.partition(":")
        if kind == "builtin":
            self._rewriter = builtin
        elif kind == "hf" and model:
            self._rewriter = Seq2SeqRewriter(model, fallback=builtin)
        else:
            raise ValueError(f"unknown rewriter '{self.rewriter}': use builtin or hf:<model id or path>")
        self._rewriter_json = json.dumps(self._rewriter.describe(), sort_keys=True, default=str)  # same every row
        self._details = JsonWithConstant("rewriter", self._rewriter.describe(), self._rewriter_json)

    def fixed_batch_size(self) -> int | None:
        return CPU_BATCH if self.rewriter == "builtin" else None  # a seq2seq model: adaptive batches

    def generate(self, items: list[WorkItem]) -> list[TextOut | Exception]:
        from pipelines.synthesize.data2text.method import data2text_many

        results = data2text_many([list(i.selected) for i in items], [i.rng() for i in items], self._bank,
                                 self._rewriter, self._vocabulary)
        outs = []
        for item, (text, meta) in zip(items, results, strict=True):
            templates = [f"{t['id']}@{t['hash']}" for t in meta.pop("templates", [])]
            details = {k: v for k, v in meta.items() if k not in ("method", "bank_version")}
            outs.append(TextOut(text, {
                "template_ids": templates, "template_version": meta.get("bank_version"),
                "rewriter": self._rewriter_json,
                "fidelity": self.fidelity(text, item.selected),
                "details": self._details.dumps(details)}))
        return outs

    def describe(self) -> dict:
        return {"method": self.name, "templates": self.templates, "rewriter": self.rewriter}


@dataclass
class Prompt2TextOptions:
    backend: str = "openai"  # openai | tgi | hf-inference | transformers
    base_url: str | None = None
    model: str | None = None
    api: str = "completions"  # completions (raw prompt) | chat
    max_new_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] | None = None  # default: the prompt's own (blank line, next "Tags:")
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    max_attempts: int = 5
    timeout_s: float = 60.0
    backoff_base_s: float = 0.5
    examples: str | None = None  # example pool JSONL (default: prompts/examples/musiccaps.jsonl)
    k: int = 3  # examples per prompt
    example_selection: str = "random"  # random | similar
    prompt_template: str | None = None
    system_prompt: str | None = None
    candidates: int = 1  # draw n completions, keep the most faithful
    cache_dir: str | None = None  # None: no cache
    batch_size: int = 64  # rows handed to the client at once (>= max_concurrency keeps it busy)
    max_tokens_field: str = "max_tokens"  # openai chat: or max_completion_tokens
    api_key_env: str | None = None  # the variable holding the API key (llm/credentials.py decides per host)
    http_transport: str = "httpx"  # httpx (httpx2's own) | lean (h11, for very high rates)


@dataclass
class _StartedBatch:
    items: list[WorkItem]
    plans: list  # per item: its plan, its finished output (from the rerun index), or the exception that stopped it
    found: dict[str, dict]  # cache key -> completion (filled in by the backend as answers land)
    pending: object  # a Future of the LLM requests, or None when the cache answered everything
    writes: list  # (cache key, Future of its cache write) of the answers that have landed
    stored: dict[str, bytes] = field(default_factory=dict)  # cache key -> its cache file's bytes (for the index)
    index: _BatchIndex | None = None


@dataclass
class _BatchIndex:
    """The batch's rows in the rerun index: their keys, entries (None: none yet) and which came from the
    batch's pack."""

    keys: list[str]
    entries: list[dict | None]
    packed: list[bool]


@dataclass
class Prompt2TextMethod(Method):
    options: Prompt2TextOptions = field(default_factory=Prompt2TextOptions)
    vocabulary_path: str | None = None
    name: str = field(default="prompt2text", init=False)
    overlap: int = field(default=2, init=False)

    def fixed_batch_size(self) -> int | None:
        # several rounds of max_concurrency requests: BatchElements' adaptive sizing starts small and kept
        # the client's concurrency slots half empty
        return self.options.batch_size

    def setup(self) -> None:
        super().setup()
        from pipelines.synthesize.cache import ResponseCache
        from pipelines.synthesize.llm import make_backend
        from pipelines.synthesize.prompt2text.examples import load_pool, tagger_pool_path
        from pipelines.synthesize.prompt2text.prompt import load_prompt_template

        o = self.options
        self._pool = load_pool(o.examples)
        # tags from a tagger get examples whose tags are vocabulary tags too (unless a pool was chosen)
        self._tagger_pool = load_pool(tagger_pool_path()) if o.examples is None else self._pool
        self._template = load_prompt_template(o.prompt_template, o.system_prompt)
        self._cache = ResponseCache(o.cache_dir) if o.cache_dir else None
        # Responses are cached by these threads, not on the LLM client's event loop: a write (a local
        # file, or a whole object in a bucket) would hold up every request in flight.
        self._cache_writer = (concurrent.futures.ThreadPoolExecutor(CACHE_WRITERS, thread_name_prefix="llm-cache")
                              if self._cache else None)
        self._backend = make_backend(o.backend, base_url=o.base_url, model=o.model, api=o.api,
                                     max_concurrency=o.max_concurrency, requests_per_minute=o.requests_per_minute,
                                     max_attempts=o.max_attempts, timeout_s=o.timeout_s,
                                     backoff_base_s=o.backoff_base_s,
                                     **({"max_tokens_field": o.max_tokens_field} if o.backend == "openai" else {}),
                                     **({"api_key_env": o.api_key_env, "http_transport": o.http_transport}
                                        if o.backend in ("openai", "tgi", "hf-inference") else {}))
        self._index = None
        if self._cache is not None:
            from pipelines.synthesize.prompt2text.rerun_index import RerunIndex, method_context

            # a rerun finds each row's finished output by what determines it, without rebuilding the prompt
            self._index = RerunIndex.open(o.cache_dir, self._cache, method_context(
                o, self._backend.model or "", self._template, (self._pool, self._tagger_pool),
                self._matcher.vocabulary))
        self._index_failures = 0

    def teardown(self) -> None:
        backend = getattr(self, "_backend", None)
        if backend is not None:
            backend.close()
        writer = getattr(self, "_cache_writer", None)
        if writer is not None:
            writer.shutdown(wait=True)  # every response that arrived is on disk before the worker ends

    def _params(self, seed: int):
        from pipelines.synthesize.llm import GenerationParams
        from pipelines.synthesize.prompt2text.prompt import DEFAULT_STOP

        o = self.options
        stop = DEFAULT_STOP if o.stop is None else tuple(o.stop)
        return GenerationParams(max_new_tokens=o.max_new_tokens, temperature=o.temperature, top_p=o.top_p,
                                stop=stop, seed=seed % (2 ** 31))

    def _plan(self, item: WorkItem) -> dict:
        """The row's prompt, request and cache keys (one per candidate)."""
        from pipelines.synthesize.cache import cache_key
        from pipelines.synthesize.descriptor_tags import prompt_text
        from pipelines.synthesize.llm import LLMRequest
        from pipelines.synthesize.prompt2text.postprocess import completion_check
        from pipelines.synthesize.surface import surface_text

        o, rng = self.options, item.rng()
        pool = self._tagger_pool if item.track.from_tagger else self._pool
        examples = pool.choose(list(item.selected), o.k, o.example_selection, rng)
        # natural words for vocabulary tags, picked with the row's seed; a measured tempo keeps its number
        words = [prompt_text(t) if t.value else surface_text(t, rng, self._matcher.vocabulary) for t in item.selected]
        prompt = self._template.render(examples, words)
        messages = self._template.messages(prompt) if o.api == "chat" else None
        requests, keys = [], []
        for c in range(o.candidates):
            params = self._params(item.seed + c)
            # a looping or copied completion is drawn again (new seed) by the backend, not lost
            check = completion_check(params.stop, [e.description for e in examples])
            request = LLMRequest(prompt=None if messages else prompt, messages=messages, params=params,
                                 key=f"{item.id}/{c}", check=check)
            requests.append(request)
            keys.append(cache_key(list(messages) if messages else prompt, self._backend.model or "",
                                  params, item.sample * o.candidates + c))
        return {"examples": examples, "prompt": prompt, "requests": requests, "keys": keys, "pool": pool}

    def _lookup(self, items: list[WorkItem]) -> tuple[list[TextOut | None], _BatchIndex | None]:
        """Per item its stored output (None: not in the rerun index, or not sound), and the batch's index state."""
        if self._index is None:
            return [None] * len(items), None
        keys = [self._index.key(item) for item in items]
        # a bucket answers each read in tens of ms: there, the batch's rows are read side by side
        found = self._index.lookup(keys, map if self._cache.is_local else self._cache_writer.map)
        return [f.out for f in found], _BatchIndex(keys, [f.entry for f in found], [f.packed for f in found])

    def start(self, items: list[WorkItem]) -> _StartedBatch:
        """Plans every row, answers what the cache can, and sends the rest without waiting."""
        plans = []
        stored, index = self._lookup(items)
        for position, (item, out) in enumerate(zip(items, stored, strict=True)):
            if out is not None:
                plans.append(out)
                continue
            try:
                plan = self._plan(item)
                plan["position"] = position
                plans.append(plan)
            except Exception as exc:  # a broken template fails its rows, with the template's file and line
                plans.append(exc)
        found: dict[str, dict] = {}
        stored_bytes: dict[str, bytes] = {}
        todo, queued, writes = [], set(), []
        for plan in plans:
            if not isinstance(plan, dict):
                continue
            for key, request in zip(plan["keys"], plan["requests"], strict=True):
                hit = self._cached(key, stored_bytes) if self._cache else None
                if hit is not None:
                    found[key] = dict(hit, cache_hit=True)
                elif key not in found and key not in queued:
                    queued.add(key)
                    todo.append((key, request))

        def record(i: int, result) -> None:  # as each response lands: a killed run loses none of them
            key = todo[i][0]
            if isinstance(result, Exception):
                found[key] = {"error": result}
                return
            value = {"text": result.text, "model": result.model, "attempts": result.attempts,
                     "latency_s": result.latency_s, "finish_reason": result.finish_reason, "created": time.time()}
            if self._cache:
                writes.append((key, self._cache_writer.submit(self._cache.put, key, value)))
            found[key] = dict(value, cache_hit=False)

        pending = self._backend.submit_many([r for _, r in todo], on_result=record) if todo else None
        return _StartedBatch(items, plans, found, pending, writes, stored_bytes, index)

    def _cached(self, key: str, stored_bytes: dict[str, bytes]) -> dict | None:
        """The cached completion for `key` (None: a miss); its file's bytes go to `stored_bytes`."""
        found = self._cache.get_with_bytes(key)
        if found is None:
            return None
        hit, stored_bytes[key] = found
        return hit

    def finish(self, started: _StartedBatch) -> list[TextOut | Exception]:
        from pipelines.synthesize.prompt2text.postprocess import RejectedCompletion, check_completion, cut_completion

        if started.pending is not None:
            started.pending.result()  # `found` is complete once every request has been recorded
        started.stored.update(self._wait_for_cache(started.writes))
        outs = []
        for item, plan in zip(started.items, started.plans, strict=True):
            if not isinstance(plan, dict):  # an exception, or an output the rerun index had
                outs.append(plan)
                continue
            out = self._choose(item, plan, started.found, cut_completion, check_completion, RejectedCompletion)
            outs.append(out)
            if started.index is not None and isinstance(out, TextOut):
                self._index_row(item, plan, out, started, (cut_completion, check_completion, RejectedCompletion))
        index = started.index
        if index is not None and any(e is not None and not p for e, p in zip(index.entries, index.packed, strict=True)):
            # some row's entry is not in the batch's pack yet: write the pack the next such batch reads
            self._index_write(self._index.put_pack, index.keys, list(index.entries))
        return outs

    def _index_row(self, item: WorkItem, plan: dict, out: TextOut, started: _StartedBatch, post) -> None:
        """Stores the row's output in the rerun index as a rerun would compute it from the cache: only when
        every candidate's answer is in the cache, and from the very bytes there (cache_hit true)."""
        responses = [(key, started.stored.get(key)) for key in plan["keys"]]
        if any(data is None for _, data in responses):
            return  # an answer that failed or could not be cached: a rerun asks again, nothing to store
        if not all(started.found[key]["cache_hit"] for key in plan["keys"]):
            cached = {k: dict(json_bytes.loads(data), cache_hit=True) for k, data in responses}
            if all(cached[k] == dict(started.found[k], cache_hit=True) for k in plan["keys"]):
                # the files hold exactly the answers the row was written from: a rerun's post-processing
                # would see the same but for cache_hit (doing it again made indexing cost a first run 643 us
                # a row, against 344-545 now: bench/prompt2text_method.py)
                out = TextOut(out.text, {**out.metadata, "cache_hit": True})
            else:
                out = self._choose(item, plan, cached, *post)
                if not isinstance(out, TextOut):
                    return
        position = plan["position"]
        entry = started.index.entries[position] = self._index.entry(started.index.keys[position], responses, out)
        self._index_write(self._index.put, entry)

    def _index_write(self, fn, *args) -> None:
        self._cache_writer.submit(fn, *args).add_done_callback(self._index_written)

    def _index_written(self, future) -> None:
        """A failed index write costs a rerun the full path for that row, never the row: logged once."""
        exc = future.exception()
        if exc is not None:
            self._index_failures += 1
            if self._index_failures == 1:
                log.warning("a rerun index entry could not be written (%s: %s); reruns recompute such rows",
                            type(exc).__name__, exc)

    def generate(self, items: list[WorkItem]) -> list[TextOut | Exception]:
        return self.finish(self.start(items))

    @staticmethod
    def _wait_for_cache(writes: list) -> dict[str, bytes]:
        """The batch's cache writes are done before its texts leave; a failed write costs a rerun
        that request again, not the text, so it is logged, not raised. Returns key -> the bytes written."""
        failed, written = [], {}
        for key, w in writes:
            exc = w.exception()
            if exc is not None:
                failed.append(exc)
            elif isinstance(w.result(), bytes):
                written[key] = w.result()
        if failed:
            log.warning("%d of %d responses could not be cached (first: %s: %s)", len(failed), len(writes),
                        type(failed[0]).__name__, failed[0])
        return written

    def _choose(self, item, plan, completions, cut, check, rejected_type) -> TextOut | Exception:
        """Post-process every candidate; keep the most faithful valid one, else report why none was."""
        from pipelines.synthesize.fidelity import best_of

        valid, last_error = [], None
        stop = plan["requests"][0].params.stop
        for key in plan["keys"]:
            got = completions[key]
            if "error" in got:
                last_error = got["error"]
                continue
            try:
                text = check(cut(got["text"], stop), [e.description for e in plan["examples"]])
                valid.append((text, key, got))
            except rejected_type as exc:
                last_error = exc
        if not valid:
            return last_error
        best = best_of([v[0] for v in valid], list(item.selected), matcher=self._matcher) if len(valid) > 1 else 0
        text, key, got = valid[best]
        params = plan["requests"][0].params
        return TextOut(text, {
            "prompt_id": self._template.id, "prompt_version": self._template.version,
            "example_ids": [e.id for e in plan["examples"]], "example_pool_version": plan["pool"].version,
            "model": got.get("model"), "cache_key": key, "cache_hit": got["cache_hit"],
            "params": json.dumps({"max_new_tokens": params.max_new_tokens, "temperature": params.temperature,
                                  "top_p": params.top_p, "stop": list(params.stop), "seed": params.seed,
                                  "api": self.options.api, "backend": self.options.backend}, sort_keys=True),
            "attempts": int(got.get("attempts") or 0), "latency_s": float(got.get("latency_s") or 0.0),
            "candidates": len(plan["keys"]), "fidelity": self.fidelity(text, item.selected),
            "details": json.dumps({"finish_reason": got.get("finish_reason"), "valid_candidates": len(valid)})})

    def describe(self) -> dict:
        d = {"method": self.name, **{k: v for k, v in vars(self.options).items()}}
        d["base_url"] = redact_url(d.get("base_url"))
        if hasattr(self, "_backend"):
            d["backend_info"] = self._backend.describe()
        return d


class JsonWithConstant:
    """json.dumps(d, sort_keys=True, default=str) for dicts whose `key` holds the same value on every row,
    with that value's JSON written once: the data2text rewriter's parameters (floats, slow to format)
    were half the cost of a row's details JSON. A row whose value differs gets the plain json.dumps."""

    def __init__(self, key: str, value, value_json: str):
        self.key, self.value, self.value_json = key, value, value_json

    def dumps(self, d: dict) -> str:
        if d.get(self.key, _ABSENT) != self.value:
            return json.dumps(d, sort_keys=True, default=str)
        key = self.key
        before = {k: v for k, v in d.items() if k < key}
        after = {k: v for k, v in d.items() if k > key}
        parts = [json.dumps(before, sort_keys=True, default=str)[1:-1]] if before else []
        parts.append(f"{json.dumps(key)}: {self.value_json}")
        if after:
            parts.append(json.dumps(after, sort_keys=True, default=str)[1:-1])
        return "{" + ", ".join(parts) + "}"


_ABSENT = object()


def _fidelity_record(f) -> dict:
    """The fields of a Fidelity that go into a triplet's metadata."""
    return {"coverage": f.coverage, "mentioned": f.mentioned, "missing": f.missing, "hallucinated": f.hallucinated}


def make_method(name: str, **options) -> Method:
    if name == "tags":
        m = TagsMethod()
        m.vocabulary_path = options.get("vocabulary")
        return m
    if name == "data2text":
        return Data2TextMethod(options.get("templates"), options.get("rewriter") or "builtin",
                               options.get("vocabulary"))
    if name == "prompt2text":
        return Prompt2TextMethod(options.get("prompt2text") or Prompt2TextOptions(), options.get("vocabulary"))
    raise ValueError(f"unknown method '{name}'; choose from {', '.join(METHODS)}")

