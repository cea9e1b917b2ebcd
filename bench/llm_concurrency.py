"""LLM client throughput: requests/s through an LLM backend against a loopback server with fixed latency.

The server runs in its own process (`python -m pipelines.testing.llm_server`) so that it does not
compete with the client for the GIL. For each concurrency C the backend sends `--rounds` x C requests
(after a warm-up round that opens the connections), `--repeats` times; the median run is reported.
The ideal is C / latency requests/s; the target is >= 0.9 of it.

    .venv/bin/python bench/llm_concurrency.py [--latency-ms 200] [--concurrency 8 32 128] [--rounds 4]
        [--repeats 3] [--backend openai|tgi] [--http-transport auto|lean|httpx]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from pipelines.synthesize.llm import GenerationParams, LLMError, LLMRequest, make_backend  # noqa: E402
from pipelines.testing.llm_server import ServerProcess  # noqa: E402


def run(url: str, backend_kind: str, transport: str, concurrency: int, rounds: int) -> tuple[float, int]:
    """(requests/s, failures) for rounds x concurrency requests, after one warm-up round."""
    backend = make_backend(backend_kind, base_url=url, model="bench", max_concurrency=concurrency, timeout_s=30,
                           http_transport=transport)
    params = GenerationParams(max_new_tokens=32, stop=("\n\n",))

    def batch(n: int, tag: str) -> list[LLMRequest]:
        return [LLMRequest(prompt=f"{tag} prompt {i}", params=params) for i in range(n)]

    try:
        backend.generate_many(batch(concurrency, "warm-up"))
        started = time.perf_counter()
        results = backend.generate_many(batch(rounds * concurrency, "bench"))
        elapsed = time.perf_counter() - started
    finally:
        backend.close()
    return len(results) / elapsed, sum(isinstance(r, LLMError) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--rounds", type=int, default=4, help="requests per run = rounds x concurrency")
    parser.add_argument("--repeats", type=int, default=3, help="runs per concurrency; the median is reported")
    parser.add_argument("--backend", default="openai", choices=["openai", "tgi"])
    parser.add_argument("--http-transport", default="auto", choices=["auto", "lean", "httpx"])
    args = parser.parse_args()
    server = ServerProcess(args.latency_ms)
    url = server.url
    print(f"{args.backend} backend ({args.http_transport} transport) -> {url}, latency {args.latency_ms:g} ms, "
          f"{args.rounds} x concurrency requests per run, median of {args.repeats}")
    print(f"{'concurrency':>11} {'req/s':>8} {'ideal':>8} {'fraction':>8} {'runs':>20} {'failed':>6}")
    worst = 1.0
    try:
        for c in args.concurrency:
            ideal = c / (args.latency_ms / 1000.0)
            runs = [run(url, args.backend, args.http_transport, c, args.rounds) for _ in range(args.repeats)]
            rate = statistics.median(r for r, _ in runs)
            worst = min(worst, rate / ideal)
            fractions = " ".join(f"{r / ideal:.2f}" for r, _ in runs)
            print(f"{c:>11} {rate:>8.1f} {ideal:>8.1f} {rate / ideal:>8.3f} {fractions:>20} "
                  f"{sum(f for _, f in runs):>6}")
    finally:
        server.close()
    print(f"worst fraction {worst:.3f} (target >= 0.9): {'OK' if worst >= 0.9 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
