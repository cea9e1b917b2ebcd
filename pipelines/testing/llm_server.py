"""A real HTTP server on 127.0.0.1 that imitates an LLM server, for tests and benchmarks.

Speaks OpenAI `POST /v1/completions` and `/v1/chat/completions`, TGI `POST /generate` (a dict) and
`POST /` (a one-element list, what huggingface_hub's InferenceClient posts to for a base URL), plus
`GET /health`, `/info` and `/v1/models`, and the harness's own `GET /_stats` and `POST /_reset`. Text
comes from a pluggable responder `fn(body, path) -> str`; the server then applies stop sequences and
the token limit like a real server would (a "token" here is a whitespace-separated word). Faults (HTTP
errors with Retry-After, slow or hung responses, malformed JSON, empty text, dropped connections, a 307
redirect to another server) are scheduled at runtime through `server.faults`. Every request's headers
are recorded (`server.requests`), so tests can check which credentials reached which host.

    with LLMServer(latency_ms=200) as server:
        server.faults.push(429, times=2, retry_after=1)
        ... requests to server.url ...
        assert server.count == 3

Run standalone: `python -m pipelines.testing.llm_server --port 0 --latency-ms 200` prints its URL.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Responder = Callable[[dict, str], str]

WORDS = ("warm", "bright", "driving", "mellow", "brooding", "airy", "punchy", "lush", "sparse", "gritty",
         "synth", "piano", "guitar", "strings", "drums", "bass", "choir", "brass", "pads", "groove")
OPENAI_PATHS = ("/v1/completions", "/v1/chat/completions")
TGI_PATHS = ("/generate", "/")
FAULT_KINDS = ("status", "slow", "hang", "malformed", "empty", "drop", "redirect")
CONTROL_PATHS = ("/_stats", "/_reset")
# The request fields OpenAI's own API takes (its reference, 2025); a `strict` server rejects any other one
# as OpenAI does ("Unrecognized request argument supplied: ..."), unlike vLLM or llama.cpp, which ignore it.
OPENAI_FIELDS = {
    "/v1/completions": {"model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
                        "max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix",
                        "temperature", "top_p", "user"},
    "/v1/chat/completions": {"model", "messages", "audio", "frequency_penalty", "logit_bias", "logprobs",
                             "max_tokens", "max_completion_tokens", "metadata", "modalities", "n",
                             "parallel_tool_calls", "prediction", "presence_penalty", "reasoning_effort",
                             "response_format", "seed", "service_tier", "stop", "store", "stream", "stream_options",
                             "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user"},
}


def prompt_text(body: Any, path: str) -> str:
    """The prompt a request carries, whatever the protocol (chat messages are joined)."""
    if not isinstance(body, dict):
        return ""
    if path == "/v1/chat/completions":
        return "\n".join(str(m.get("content", "")) for m in body.get("messages") or [] if isinstance(m, dict))
    value = body.get("prompt") if path == "/v1/completions" else body.get("inputs")
    if isinstance(value, list):  # OpenAI allows a list of prompts; this server answers the first
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def default_responder(body: dict, path: str, *, next_example: bool = False) -> str:
    """A deterministic completion: words and a short hash derived from the prompt.

    With `next_example`, a trailing fake "next example" follows a blank line, as an LLM continuing a
    few-shot prompt would write; a `"\\n\\n"` stop sequence removes it.
    """
    digest = hashlib.sha256(prompt_text(body, path).encode()).hexdigest()
    words = [WORDS[int(digest[i:i + 2], 16) % len(WORDS)] for i in range(0, 12, 2)]
    text = f" {' '.join(words)} [{digest[:8]}]."
    if next_example:
        text += "\n\nTags: rock, guitar\nDescription: a loud rock song"
    return text


def apply_limits(text: str, stop: list[str], max_tokens: int | None) -> tuple[str, str]:
    """Cut at the earliest stop sequence, then at `max_tokens` words; return (text, finish_reason) with
    TGI's reasons: stop_sequence, length or eos_token (the text ended by itself)."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    reason = "eos_token"
    if cuts:
        text, reason = text[:min(cuts)], "stop_sequence"
    if max_tokens is not None and max_tokens >= 0:
        ends = [m.end() for m in re.finditer(r"\S+", text)]
        if len(ends) > max_tokens:
            text, reason = text[:ends[max_tokens - 1]] if max_tokens else "", "length"
    return text, reason


@dataclass
class Fault:
    """One scheduled fault. It fires on matching requests (`match`: a substring of the prompt) that are
    the `every`-th one (1 = each), at most `times` times (None = forever)."""

    kind: str                      # one of FAULT_KINDS
    status: int = 0                # for kind "status"
    retry_after: float | str | None = None  # Retry-After header (seconds, or an HTTP date string)
    delay_s: float = 0.0           # "slow": extra delay before answering; "hang": how long to hang
    body: str | None = None        # "status": the error message (default: "injected fault: HTTP <status>")
    times: int | None = 1
    every: int = 1
    match: str | None = None
    seen: int = 0                  # matching requests so far
    fired: int = 0
    location: str | None = None    # "redirect": the origin to send the client to (the path is kept)

    def label(self) -> str:
        return f"status:{self.status}" if self.kind == "status" else self.kind

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """`KIND[:key=value,...]`, KIND a status code or a fault kind; e.g. `429:times=3,retry_after=1`,
        `drop:every=5,times=`, `slow:delay_s=0.5,match=SLOWME`. An empty `times=` means forever."""
        kind, _, rest = spec.partition(":")
        options: dict[str, Any] = {}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            options[key.strip()] = value.strip()
        return FaultSchedule.make(kind.strip(), **{k: _coerce(k, v) for k, v in options.items()})


def _coerce(key: str, value: str) -> Any:
    if key in ("times",):
        return int(value) if value else None
    if key in ("every", "status"):
        return int(value)
    if key in ("delay_s", "retry_after"):
        return float(value)
    return value


class FaultSchedule:
    """Thread-safe list of faults; the first rule that fires on a request decides its fate."""

    def __init__(self):
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    @staticmethod
    def make(kind: str | int, *, times: int | None = 1, every: int = 1, match: str | None = None,
             status: int | None = None, retry_after: float | str | None = None, delay_s: float | None = None,
             body: str | None = None, location: str | None = None) -> Fault:
        if isinstance(kind, int) or str(kind).isdigit():
            status, kind = int(kind), "status"
        if kind == "timeout":
            kind = "hang"
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected a status code or one of {FAULT_KINDS}")
        if kind == "status" and not status:
            raise ValueError("a status fault needs a status code")
        if kind == "redirect" and not location:
            raise ValueError("a redirect fault needs a location (e.g. another server's url)")
        default_delay = {"slow": 0.5, "hang": 30.0}.get(kind, 0.0)
        return Fault(kind, status or (307 if kind == "redirect" else 0), retry_after,
                     default_delay if delay_s is None else delay_s, body, times, max(1, every), match,
                     location=location)

    def push(self, kind: str | int, **options) -> Fault:
        """Add a rule, e.g. `push(429, times=2, retry_after=1)`, `push("drop", every=3, times=None)`,
        `push("empty", match="EMPTY")`, `push("hang", delay_s=5)`, `push("redirect", location=other.url)`."""
        rule = kind if isinstance(kind, Fault) else self.make(kind, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def pick(self, prompt: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.match is not None and rule.match not in prompt:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                rule.seen += 1
                if rule.seen % rule.every == 0:
                    rule.fired += 1
                    return rule
            return None


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any                      # parsed JSON, or None when the body was not JSON
    raw: bytes
    fault: str | None = None       # the fault applied, if any
    received_at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class LLMServer:
    """The loopback server; a context manager. Attributes tests read: `url`, `count`, `requests`,
    `counts_by_path`, `max_in_flight`; settable at runtime: `latency_s`, `responder`, `faults`.

    asyncio in a background thread rather than a thread per connection: at 128 concurrent requests
    with 200 ms latency a ThreadingHTTPServer delivered ~15% fewer requests/s (thread wake-ups, GIL).
    The responder runs on the server's event loop, so it must be quick (latency is the server's job).
    """

    def __init__(self, responder: Responder | None = None, *, latency_ms: float = 0.0, host: str = "127.0.0.1",
                 port: int = 0, model: str = "loopback-llm", next_example: bool = False, honour_stop: bool = True,
                 ssl_context: ssl.SSLContext | None = None, record: bool = True, strict: bool = False):
        self.ssl_context = ssl_context  # serve https (tests of TLS clients)
        self.record = record  # keep every request in `requests` (off for long benchmark runs)
        self.strict = strict  # reject request fields OpenAI's API does not know, with OpenAI's 400
        self.responder: Responder = responder or (lambda body, path: default_responder(
            body, path, next_example=next_example))
        self.latency_s = latency_ms / 1000.0
        self.model = model
        self.honour_stop = honour_stop
        self.faults = FaultSchedule()
        self._address = (host, port)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._requests: list[ReceivedRequest] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._first_post: float | None = None  # arrival of the first and last POST since reset()
        self._last_post: float | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        self.connections = 0  # TCP connections accepted (keep-alive reuse keeps this low)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LLMServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-server", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self):
        # backlog: bursts of hundreds of new connections are queued, not refused
        return await asyncio.start_server(self._connection, *self._address, backlog=1024, reuse_address=True,
                                          ssl=self.ssl_context)

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._server = None

    async def _shutdown(self):
        self._server.close()
        for task in list(self._tasks):  # ends latency sleeps, hung requests and idle keep-alive connections
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    # -- observation -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget received requests and counters (faults stay; `faults.clear()` removes them)."""
        with self._lock:
            self._requests, self._counts = [], {}
            self._first_post = self._last_post = None
            self.max_in_flight = self._in_flight

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        """POST requests received (generation attempts), faulty or not."""
        with self._lock:
            return sum(n for (method, _), n in self._counts.items() if method == "POST")

    @property
    def counts_by_path(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for (_, path), n in self._counts.items():
                counts[path] = counts.get(path, 0) + n
        return counts

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- HTTP ------------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        with self._lock:
            self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or sent garbage: drop the connection
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio logs connection tasks that end cancelled)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")  # one await for the whole head: cheaper
        except asyncio.IncompleteReadError:
            return False  # the client closed the connection between requests
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(None, 2)
        headers: dict[str, str] = {}
        for header in header_lines:
            if header:
                name, _, value = header.partition(":")
                headers[name.strip()] = value.strip()
        lower = {k.lower(): v for k, v in headers.items()}
        raw = await reader.readexactly(int(lower.get("content-length") or 0))
        keep_alive = lower.get("connection", "").lower() != "close" and "1.0" not in version
        path = target.split("?", 1)[0]
        if path in CONTROL_PATHS:  # the harness's own endpoints: not counted as traffic
            writer.write(_http_response(200, self._control(method, path)))
            await writer.drain()
            return keep_alive
        if method == "GET":
            self._record(ReceivedRequest("GET", path, headers, None, raw))
            status, payload = self._get(path)
            writer.write(_http_response(status, payload))
            await writer.drain()
            return keep_alive
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fault = self.faults.pick(prompt_text(body, path))
        self._record(ReceivedRequest(method, path, headers, body, raw, fault.label() if fault else None))
        self._enter()
        try:
            response = await self._post(path, body, fault)
            if response is None:  # dropped or hung: close without a byte of response
                return False
            writer.write(response)
            await writer.drain()
        finally:
            self._leave()
        return keep_alive

    def _control(self, method: str, path: str) -> dict:
        """`GET /_stats`: POSTs received and when the first and last arrived (server clock, seconds),
        for benchmarks that run the server in another process; `POST /_reset` forgets them."""
        if method == "POST" and path == "/_reset":
            self.reset()
        with self._lock:
            return {"posts": sum(n for (m, _), n in self._counts.items() if m == "POST"),
                    "first_received": self._first_post, "last_received": self._last_post,
                    "max_in_flight": self.max_in_flight, "latency_s": self.latency_s}

    def _get(self, path: str) -> tuple[int, Any]:
        if path == "/health":
            return 200, None
        if path == "/info":
            return 200, {"model_id": self.model, "max_concurrent_requests": 1024}
        if path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        return 404, {"error": f"no route GET {path}"}

    async def _post(self, path: str, body: Any, fault: Fault | None) -> bytes | None:
        if fault and fault.kind == "drop":
            return None
        if fault and fault.kind == "hang":
            await asyncio.sleep(fault.delay_s)
            return None
        delay = self.latency_s + (fault.delay_s if fault and fault.kind == "slow" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if path not in OPENAI_PATHS + TGI_PATHS:
            return _http_response(404, {"error": f"no route POST {path}"})
        if fault and fault.kind == "status":
            return self._error(path, fault)
        if fault and fault.kind == "redirect":  # 307: the client repeats the same POST at the new place
            return _http_response(fault.status, None, {"Location": fault.location.rstrip("/") + path})
        if not isinstance(body, dict):
            return _http_response(400, {"error": "request body must be a JSON object", "error_type": "validation"})
        unknown = sorted(set(body) - OPENAI_FIELDS[path]) if self.strict and path in OPENAI_FIELDS else []
        if unknown:
            return _http_response(400, {"error": {"message": f"Unrecognized request argument supplied: {unknown[0]}",
                                                  "type": "invalid_request_error", "param": None, "code": None}})
        if fault and fault.kind == "malformed":
            return _http_response(200, b'{"choices": [{"text": "cut sh')
        text = "" if fault and fault.kind == "empty" else self.responder(body, path)
        return _http_response(200, self._response(path, body, text))

    def _error(self, path: str, fault: Fault) -> bytes:
        headers = {} if fault.retry_after is None else {"Retry-After": _retry_after_value(fault.retry_after)}
        message = fault.body or f"injected fault: HTTP {fault.status}"
        if path in TGI_PATHS:  # TGI's error shape; InferenceClient maps error_type to exception classes
            kind = {429: "overloaded", 503: "overloaded", 400: "validation", 422: "validation"}.get(fault.status)
            payload: dict = {"error": message, **({"error_type": kind} if kind else {})}
        else:
            payload = {"error": {"message": message, "type": "server_error" if fault.status >= 500 else
                                 "invalid_request_error", "code": fault.status}}
        return _http_response(fault.status, payload, headers)

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            key = (request.method, request.path)
            self._counts[key] = self._counts.get(key, 0) + 1
            if request.method == "POST":
                if self._first_post is None:
                    self._first_post = request.received_at
                self._last_post = request.received_at
            if self.record:
                self._requests.append(request)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _response(self, path: str, body: dict, text: str) -> Any:
        if path in TGI_PATHS:
            params = body.get("parameters") or {}
            stop, limit = params.get("stop") or [], params.get("max_new_tokens")
        else:
            limit = body.get("max_completion_tokens") if path == "/v1/chat/completions" else None
            stop, limit = body.get("stop") or [], body.get("max_tokens") if limit is None else limit
        stop = [stop] if isinstance(stop, str) else list(stop)
        text, reason = apply_limits(text, stop if self.honour_stop else [], limit)
        n_prompt, n_out = len(prompt_text(body, path).split()), len(text.split())
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}
        created, model = int(time.time()), body.get("model") or self.model
        if path == "/v1/completions":
            return {"id": "cmpl-loopback", "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": text, "finish_reason": _openai_reason(reason),
                                 "logprobs": None}], "usage": usage}
        if path == "/v1/chat/completions":
            return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "finish_reason": _openai_reason(reason),
                                 "message": {"role": "assistant", "content": text}}], "usage": usage}
        result: dict = {"generated_text": text}
        if params.get("details"):
            result["details"] = {"finish_reason": reason, "generated_tokens": n_out, "seed": params.get("seed"),
                                 "prefill": [], "tokens": []}
        return [result] if path == "/" else result


REASONS = {200: "OK", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 404: "Not Found",
           408: "Request Timeout", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _openai_reason(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def _http_response(status: int, payload: Any, headers: dict | None = None) -> bytes:
    """Status line, headers and body in one buffer: one write, one TCP segment for small answers."""
    if isinstance(payload, bytes):
        data = payload
    else:
        data = b"" if payload is None else json.dumps(payload).encode()
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", "Content-Type: application/json",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def _retry_after_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


class ServerProcess:
    """The server in a child process (`python -m pipelines.testing.llm_server`), so that a benchmark's
    client does not share its GIL with the server, as it would not with a real LLM server. A context
    manager; `stats()` and `reset()` go through the control endpoints."""

    def __init__(self, latency_ms: float = 0.0, *extra_args: str):
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "pipelines.testing.llm_server", "--port", "0",
                                      "--latency-ms", str(latency_ms), *extra_args],
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.url = (self.proc.stdout.readline() or "").strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"the LLM server process did not start (it printed {self.url!r})")

    def _call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never via a proxy
        with direct.open(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("GET", "/_stats")

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    parser.add_argument("--model", default="loopback-llm")
    parser.add_argument("--next-example", action="store_true", help="append a fake next example to completions")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="e.g. 429:times=3,retry_after=1 or drop:every=5,times= (repeatable)")
    args = parser.parse_args(argv)
    server = LLMServer(latency_ms=args.latency_ms, host=args.host, port=args.port, model=args.model,
                       next_example=args.next_example, record=False)  # nobody reads the log here
    for spec in args.fault:
        server.faults.push(Fault.parse(spec))
    with server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
