"""The HTTP/1.1 protocol `dockfaq serve` runs: uvicorn's (httptools), plus the two limits it
lacks when it faces clients directly.

- **Header size.** httptools buffers an unfinished header line however long it grows: ten
  clients each sending 50 MB of one header took the server from 317 MB to 823 MB. Request
  headers over ``max_header_bytes`` get 431 and the connection is closed.
- **Header time.** uvicorn times out idle kept-alive connections, but not a request whose
  headers arrive a byte at a time (slowloris): each holds a connection forever. Headers not
  complete within ``header_timeout`` seconds of the connection or the request starting get
  408 and the connection is closed.

And one mending: on shutdown (a worker retired by a reload, a stop) uvicorn closes at once
every connection with no request in progress, including one it accepted a moment ago whose
request is still on its way, which the client then sees dropped. Here such a connection has
``DRAIN_SECONDS`` to send its request, which is answered and the connection then closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_END_OF_HEADERS = b"\r\n\r\n"
# After refusing, the connection reads (and drops) what the client still sends for this long
# before closing: closing with unread data makes the kernel reset the connection, and the
# client may never see the 431 or 408.
LINGER_SECONDS = 2.0
# On shutdown, how long a connection with no request in progress may still start one.
DRAIN_SECONDS = 2.0


def guarded(max_header_bytes: int, header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol class with these limits (``uvicorn.run(http=...)``)."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout},
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 64 * 1024
    header_timeout = 10.0

    # Per request this costs a find() and at most a clock read: the one timer per connection
    # is re-armed only when it fires (a timer per request cost more than the rest together).

    # uvicorn narrows asyncio.Protocol's BaseTransport to Transport the same way.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading_headers = True
        self._header_bytes = 0
        self._tail = b""
        self._refused = False
        # When the current request's headers began: the connection, or the request's first
        # byte; None between a response and the next request (uvicorn's keep-alive times that).
        self._headers_since: float | None = self.loop.time()
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._check_time
        )
        self._draining = False

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_headers:
            if self._headers_since is None:
                self._headers_since = self.loop.time()
            end = (self._tail + data if self._tail else data).find(_END_OF_HEADERS)
            if end < 0:
                self._header_bytes += len(data)
                self._tail = data[-3:] if len(data) >= 3 else (self._tail + data)[-3:]
            else:
                self._header_bytes += end + 4 - len(self._tail)
                self._reading_headers = False
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, f"request headers over {self.max_header_bytes} bytes")
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered, then closed

    def shutdown(self) -> None:
        """uvicorn's, except that a connection with no request in progress is closed only if
        none starts within ``DRAIN_SECONDS``."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # closes once this response is sent
            return
        self._draining = True
        self.loop.call_later(DRAIN_SECONDS, self._end_drain)

    def _end_drain(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self._reading_partial_headers() and not self.transport.is_closing():
            self.transport.close()

    def _reading_partial_headers(self) -> bool:
        """Some of a request's headers have come, not all (the header timeout ends a slow one)."""
        return self._reading_headers and self._header_bytes > 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # What arrives next is the next request's headers.
        self._reading_headers, self._header_bytes, self._tail = True, 0, b""
        self._headers_since = None

    def _check_time(self) -> None:
        """Refuse a request whose headers are late; else wake up at the current request's
        deadline, or one timeout from now (before any request that starts later is due)."""
        self._header_timer = None
        if self.transport.is_closing():
            return
        now, since = self.loop.time(), self._headers_since
        due = now + self.header_timeout
        if self._reading_headers and since is not None:
            if now - since >= self.header_timeout:
                self._refuse(408, f"request headers not complete within {self.header_timeout:g} s")
                return
            due = since + self.header_timeout
        self._header_timer = self.loop.call_at(due, self._check_time)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a JSON detail, as every other error, and hang up."""
        self._disarm()
        self._reading_headers, self._refused = False, True
        body = json.dumps({"detail": detail}).encode()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head: list[Any] = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        head += [b"content-type: application/json\r\n", b"connection: close\r\n"]
        head += [b"content-length: %d\r\n\r\n" % len(body), body]
        self.transport.write(b"".join(head))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
