"""The benchmark's OpenAI-compatible server: raw HTTP/1.1 on asyncio, in its own process, answering
from a table of complete pre-serialized responses.

The scripted test server (tests/fake_openai_server.py, aiohttp) parses every request's JSON and
records it, about 2 ms of CPU per call on this machine; at 256 conversations in flight and 200 ms
that alone would fill a core. Here a request seen before costs a hash of its body and one write:
its bytes are the key (synthesis is deterministic per seed and index), so a warm-up pass through
the expensive ``inner`` responder fills the table and a measured pass replays it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any, Callable

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


def http_response(status: int, payload: bytes, headers: dict[str, str] | None = None) -> bytes:
    """One complete HTTP/1.1 response, keep-alive."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in {"Content-Type": "application/json", **(headers or {})}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class ReplayTable:
    """Request body digest -> complete response bytes; a miss asks ``inner`` (the request parsed as
    :class:`tests.fake_openai_server.RecordedRequest`, a deterministic responder) and keeps its
    answer, an error (the offline engine's refusal) included."""

    def __init__(self, inner: Callable[[Any], Any]):
        self._inner = inner
        self._table: dict[bytes, bytes] = {}
        self.misses = 0
        self.received = 0
        self.waiting = 0
        self.peak = 0
        """Requests waiting out their latency now, and at most so far (the client's real concurrency)."""

    def respond(self, method: str, path: str, body: bytes) -> bytes:
        key = hashlib.sha256(body).digest()
        found = self._table.get(key)
        if found is not None:
            return found
        from tests.fake_openai_server import RecordedRequest

        self.misses += 1
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        reply = self._inner(RecordedRequest(method=method, path=path, headers={}, raw=body, body=parsed))
        payload, headers = reply.encoded()
        response = self._table[key] = http_response(reply.status, payload, headers)
        return response


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed by Content-Length, each answered after the latency."""

    def __init__(self, table: ReplayTable, latency):
        self._table = table
        self._latency = latency
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self._transport = transport

    def connection_lost(self, exc) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            method, path, _ = request_line.split(" ", 2)
            response = self._table.respond(method, path, body)
            self._table.received += 1
            self._table.waiting += 1
            self._table.peak = max(self._table.peak, self._table.waiting)
            asyncio.get_running_loop().call_later(self._latency.value, self._send, response)

    def _send(self, response: bytes) -> None:
        self._table.waiting -= 1
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(response)


def _serve(responder_factory, latency, counters, urls, stop) -> None:
    table = ReplayTable(responder_factory())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(table, latency), "127.0.0.1", 0, backlog=1024)
        urls.put(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1")
        while not stop.is_set():
            if counters[2]:  # the parent starts a new pass
                table.peak = table.waiting
            counters[0], counters[1], counters[2], counters[3] = table.misses, table.peak, 0, table.received
            await asyncio.sleep(0.02)
        server.close()

    asyncio.run(main())


class ReplayServerProcess:
    """The replay server in a child process for as long as the ``with`` block lasts; ``latency`` (a
    shared value, seconds) may change between passes."""

    def __init__(self, responder_factory: Callable[[], Callable[[Any], Any]], latency_s: float = 0.0):
        context = multiprocessing.get_context("spawn")
        self._urls = context.Queue()
        self._stop = context.Event()
        self.latency = context.Value("d", latency_s)
        # misses, peak, reset request, requests received
        self._counters = context.Array("q", 4)
        self._process = context.Process(
            target=_serve, args=(responder_factory, self.latency, self._counters, self._urls, self._stop), daemon=True
        )

    def __enter__(self) -> "ReplayServerProcess":
        self._process.start()
        self.base_url = self._urls.get(timeout=60)
        return self

    @property
    def misses(self) -> int:
        """Requests answered by the inner responder so far (published every 0.02 s by the server)."""
        return self._counters[0]

    @property
    def received(self) -> int:
        """Requests received so far (published every 0.02 s by the server)."""
        return self._counters[3]

    def peak_since_reset(self) -> int:
        """The most requests the server held at once since :meth:`reset` (published every 0.02 s)."""
        return self._counters[1]

    def reset(self) -> None:
        """A new pass: the peak is counted again from now."""
        self._counters[2] = 1
        while self._counters[2]:
            time.sleep(0.02)

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (Linux /proc)."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
