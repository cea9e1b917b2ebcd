"""`transformers serve` (transformers' own OpenAI-compatible server: FastAPI + uvicorn) on 127.0.0.1, in a
child process, for tests of the LLM backends against a server no one here wrote.

    with TransformersServe(model_dir) as server:   # raises ServeUnavailable when it cannot run here
        ... requests to f"{server.url}/v1" with model=str(model_dir) ...
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServeUnavailable(RuntimeError):
    pass


def serve_command() -> str:
    """The `transformers` CLI of this interpreter's environment, when its serving extras are installed."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServeUnavailable(f"transformers serve needs its serving extras (fastapi, uvicorn): {exc}") from None
    cli = Path(sys.executable).with_name("transformers")
    found = str(cli) if cli.is_file() else shutil.which("transformers")
    if not found:
        raise ServeUnavailable("no `transformers` command beside this Python")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TransformersServe:
    def __init__(self, model_dir: str | Path, *, startup_timeout_s: float = 180.0, log_path: str | Path | None = None):
        self.model_dir, self.port = str(model_dir), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else None
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "NO_PROXY": "127.0.0.1,localhost"}
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        # the model is forced (loaded at start, never unloaded); requests name it by the same path
        self.proc = subprocess.Popen([serve_command(), "serve", self.model_dir, "--host", "127.0.0.1", "--port",
                                      str(self.port), "--device", "cpu", "--log-level", "warning"],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait(startup_timeout_s)
        except BaseException:
            self.close()
            raise

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServeUnavailable(f"transformers serve exited with {self.proc.returncode} "
                                       f"(log: {self.log_path or 'not kept'})")
            try:
                with direct.open(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise ServeUnavailable(f"transformers serve did not answer /health within {timeout_s:g} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self) -> TransformersServe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
