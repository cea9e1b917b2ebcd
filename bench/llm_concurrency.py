"""LLM client throughput: requests/s through an LLM backend against a loopback server with fixed latency,
for each HTTP transport (httpx2's own, the default, and the opt-in lean h11 one) and server latency.

The server runs in its own process (`python -m pipelines.testing.llm_server`) so that it does not
compete with the client for the GIL. For each latency, transport and concurrency C the backend sends
`--rounds` x C requests (after a warm-up round that opens the connections), `--repeats` times; the
median run is reported, with the client's CPU time per request (this process only). The ideal is
C / latency requests/s. 200 ms is a fast local server; 2 s is closer to a real LLM writing ~96 tokens.

    .venv/bin/python bench/llm_concurrency.py [--latency-ms 200 2000] [--concurrency 8 32 128] [--rounds 4]
        [--repeats 3] [--backend openai|tgi] [--http-transport httpx lean]
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


def run(url: str, backend_kind: str, transport: str, concurrency: int, rounds: int) -> tuple[float, float, int]:
    """(requests/s, client CPU ms per request, failures) for rounds x concurrency requests, after one
    warm-up round."""
    backend = make_backend(backend_kind, base_url=url, model="bench", max_concurrency=concurrency, timeout_s=30,
                           http_transport=transport)
    params = GenerationParams(max_new_tokens=32, stop=("\n\n",))

    def batch(n: int, tag: str) -> list[LLMRequest]:
        return [LLMRequest(prompt=f"{tag} prompt {i}", params=params) for i in range(n)]

    try:
        backend.generate_many(batch(concurrency, "warm-up"))
        started, cpu = time.perf_counter(), time.process_time()
        results = backend.generate_many(batch(rounds * concurrency, "bench"))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        backend.close()
    return len(results) / elapsed, 1000 * cpu / len(results), sum(isinstance(r, LLMError) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[200.0, 2000.0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--rounds", type=int, default=4, help="requests per run = rounds x concurrency")
    parser.add_argument("--repeats", type=int, default=3, help="runs per concurrency; the median is reported")
    parser.add_argument("--backend", default="openai", choices=["openai", "tgi"])
    parser.add_argument("--http-transport", nargs="+", default=["httpx", "lean"], choices=["httpx", "lean"])
    args = parser.parse_args()
    print(f"{args.backend} backend, {args.rounds} x concurrency requests per run, median of {args.repeats}")
    print("| latency | transport | concurrency | req/s | ideal | fraction | CPU ms/request | runs (fraction) "
          "| failed |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for latency_ms in args.latency_ms:
        with ServerProcess(latency_ms) as server:
            for transport in args.http_transport:
                for c in args.concurrency:
                    ideal = c / (latency_ms / 1000.0)
                    runs = [run(server.url, args.backend, transport, c, args.rounds) for _ in range(args.repeats)]
                    rate = statistics.median(r for r, _, _ in runs)
                    cpu = statistics.median(ms for _, ms, _ in runs)
                    fractions = " ".join(f"{r / ideal:.2f}" for r, _, _ in runs)
                    print(f"| {latency_ms:g} ms | {transport} | {c} | {rate:.1f} | {ideal:.1f} | {rate / ideal:.3f} "
                          f"| {cpu:.2f} | {fractions} | {sum(f for _, _, f in runs)} |", flush=True)


if __name__ == "__main__":
    main()
