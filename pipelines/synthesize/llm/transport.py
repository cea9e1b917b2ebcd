"""The HTTP transport of the LLM backends: httpx2's own (the default) or a lean h11 one (opt-in).

Default: httpx2's own transport (httpcore2 over anyio), a maintained client that handles TLS, proxies
and HTTP edge cases for every user. `--http-transport lean` picks `LeanTransport`, h11 over asyncio
streams with keep-alive, for users who drive a fast local server at very high rates: httpx2's transport
costs about 1 ms of CPU per request, which limits a 2-CPU client at hundreds of requests per second but
hardly matters at the 1-3 s a real LLM takes per completion (README table, bench/llm_concurrency.py).
The lean transport keeps the httpx2.AsyncClient API, Request/Response objects and exception classes.
Its scope: HTTP/1.1 over http or https, no proxies (when a proxy applies, httpx2's transport is used
instead, with a warning), no HTTP/2, bodies read whole (LLM answers are small JSON); its read timeout
bounds the wait for the whole answer, not each socket read.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.request

import h11
import httpx2

log = logging.getLogger(__name__)

READ_CHUNK = 65536
TRANSPORTS = ("httpx", "lean")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        # An idle keep-alive connection the server closed has seen EOF by the time we look.
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx2.AsyncBaseTransport):
    """`verify`: True (the system trust store, as httpx2), False, or an ssl.SSLContext."""

    def __init__(self, verify: bool | ssl.SSLContext = True):
        self._verify = verify
        self._ssl = None
        self._idle: dict[tuple, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = request.extensions.get("timeout") or {}
        conn = await self._checkout(request, timeouts.get("connect"))
        try:
            body = await request.aread()
            data = conn.h11.send(h11.Request(method=request.method, target=request.url.raw_path,
                                             headers=list(request.headers.raw)))
            if body:
                data += conn.h11.send(h11.Data(data=body))
            data += conn.h11.send(h11.EndOfMessage())
            conn.writer.write(data)  # one write: head and body in one segment
            async with asyncio.timeout(timeouts.get("read")):
                await conn.writer.drain()
                status, headers, content = await self._read_response(conn, request)
        except Exception as exc:
            conn.close()
            raise _map_error(exc, request) from None
        except BaseException:  # cancelled mid-request: the connection's state is unknown
            conn.close()
            raise
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            self._idle.setdefault(_origin(request.url), []).append(conn)
        else:
            conn.close()
        return httpx2.Response(status, headers=headers, content=content, request=request,
                               extensions={"http_version": b"HTTP/1.1"})

    async def _checkout(self, request: httpx2.Request, connect_timeout: float | None) -> _Connection:
        idle = self._idle.get(_origin(request.url), [])
        while idle:
            conn = idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        url = request.url
        https = url.scheme == "https"
        if https and self._ssl is None:
            self._ssl = httpx2.create_ssl_context(verify=self._verify)  # same trust store as httpx2
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(
                    url.host, url.port or (443 if https else 80), ssl=self._ssl if https else None,
                    server_hostname=url.host if https else None, limit=READ_CHUNK)
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"connecting to {url.host} timed out", request=request) from None
        except OSError as exc:
            raise httpx2.ConnectError(f"cannot connect to {url.host}:{url.port}: {exc}", request=request) from None
        return _Connection(reader, writer)

    @staticmethod
    async def _read_response(conn: _Connection, request: httpx2.Request) -> tuple[int, list, bytes]:
        response, chunks = None, []
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                data = await conn.reader.read(READ_CHUNK)
                if not data and response is None:
                    raise httpx2.RemoteProtocolError("Server disconnected without sending a response.",
                                                     request=request)
                conn.h11.receive_data(data)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return response.status_code, list(response.headers), b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx2.RemoteProtocolError("Server closed the connection mid-response.", request=request)
            # h11.InformationalResponse (1xx): keep reading

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


def _origin(url: httpx2.URL) -> tuple:
    return url.scheme, url.host, url.port


def _map_error(exc: BaseException, request: httpx2.Request) -> BaseException:
    """Raise what httpx2's own transport would, so callers handle one family of exceptions."""
    if isinstance(exc, httpx2.HTTPError):
        return exc
    if isinstance(exc, TimeoutError):
        return httpx2.ReadTimeout("timed out waiting for the response", request=request)
    if isinstance(exc, h11.RemoteProtocolError):
        return httpx2.RemoteProtocolError(str(exc), request=request)
    if isinstance(exc, h11.LocalProtocolError):
        return httpx2.LocalProtocolError(str(exc), request=request)
    if isinstance(exc, OSError):  # reset, broken pipe
        return httpx2.ReadError(f"{type(exc).__name__}: {exc}", request=request)
    return exc


def proxied(url: str) -> bool:
    """Whether the environment routes `url` through a proxy (HTTP(S)_PROXY / ALL_PROXY minus NO_PROXY)."""
    parsed = httpx2.URL(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parsed.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parsed.host)


def transport_for(url: str, choice: str = "httpx") -> httpx2.AsyncBaseTransport | None:
    """The transport to give httpx2.AsyncClient: None for httpx2's own (choice "httpx", the default),
    LeanTransport for "lean" unless a proxy applies to `url` (the lean one cannot use proxies)."""
    if choice not in TRANSPORTS:
        raise ValueError(f"http transport must be one of {', '.join(TRANSPORTS)}, not {choice!r}")
    if choice == "httpx":
        return None
    if proxied(url):
        log.warning("--http-transport lean cannot use the proxy set for %s: using httpx2's own transport", url)
        return None
    return LeanTransport()
