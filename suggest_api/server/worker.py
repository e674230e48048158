"""A gunicorn worker that gives a thread only whole requests, so slow or idle clients cannot hold them.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the thread
then reads the rest blocking, so 8 clients that send half a request and wait hold every thread of a
default `serve` (2 workers x 4 threads) for as long as they like. This worker keeps gthread's thread pool,
keep-alive handling and graceful shutdown, and changes what happens before a thread is involved:

- The worker's event loop reads each request into memory (server/framing.py decides where it ends) and
  enforces deadlines: the head within `request_header_timeout` of its first byte (or of the connection,
  for one that sends nothing), the body within `request_body_timeout` after the head. A late request is
  answered 408 problem+json and closed; a silent connection is just closed.
- Limits on the head (URL length, header bytes and count) and a declared body over the size limit are
  refused before the body is read, so a refused upload costs nothing.
- Complete requests wait for a thread in a bounded queue (`max_queued_requests` per worker): beyond it
  the answer is 503 with Retry-After, which clients retry, instead of a queue that grows without end.
- Bodies being read share a memory budget (`max_queued_requests` x the body size limit, 64 MiB by
  default): a body that would go over it, by its declared length, is answered 503 with Retry-After at
  once. So 1000 connections each starting a 1 MiB upload cost at most the budget, not 1 GiB.
- A thread writing an answer to a client that does not read it gives up after `request_body_timeout`
  (the socket's send timeout), so slow readers cannot hold threads either.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import struct
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from suggest_api.config import Settings
from suggest_api.metrics import REFUSED
from suggest_api.server.framing import CONTINUE, FrameLimits, Refusal, RequestFrame, Stage

log = logging.getLogger("suggest_api.request_log")

#: How long a refused connection is read (and the bytes dropped) after its answer, so closing it with
#: unread request bytes does not reset the connection before the client has read the answer.
LINGER_S = 2.0
RECV_BYTES = 65536


@dataclass
class Arriving:
    """A request being read: its bytes so far and when the current stage (head or body) must be done."""

    frame: RequestFrame
    deadline: float
    #: Bytes of the worker's body budget this request holds (its allowance, once its head is in).
    reserved: int = 0


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with whole requests buffered by the event loop before a thread serves them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = getattr(self.app, "settings", None)
        self.settings: Settings = settings if isinstance(settings, Settings) else Settings.from_env()
        limits = self.settings.limits
        self.frame_limits = FrameLimits(limits.max_url_bytes, limits.max_header_bytes, limits.max_headers,
                                        limits.max_body_bytes, limits.max_import_bytes)
        self.arriving: dict[TConn, Arriving] = {}
        self.lingering: dict[TConn, float] = {}
        #: Requests handed to the thread pool and not finished yet (running or queued).
        self.in_threads = 0
        # Room for every queued request at the body limit, and for one study import at its own.
        self.body_budget = self.settings.max_queued_requests * limits.max_body_bytes + limits.max_import_bytes
        self.body_reserved = 0

    # -- connections arrive -------------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        seconds = self.settings.request_body_timeout
        timeout = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)  # a thread's blocking write
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)  # and read (never expected)
        self._read_request(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection sends its next request: read it here, not in a thread."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    def enqueue_req(self, conn: TConn) -> None:
        """gthread calls this for a kept-alive connection whose next request is already (partly) buffered."""
        self._read_request(conn)

    def _read_request(self, conn: TConn) -> None:
        arriving = Arriving(RequestFrame(self.frame_limits), time.monotonic() + self.settings.request_header_timeout)
        self.arriving[conn] = arriving
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if ahead and self._take(conn, arriving, ahead):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        self._on_readable(conn, conn.sock)  # usually there already: saves a turn of the loop

    def _recv(self, conn: TConn) -> bytes | None:
        """What the socket has: None when nothing yet, b"" when the client has gone (or reset)."""
        try:
            data: bytes = conn.sock.recv(RECV_BYTES)
            return data
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def _on_readable(self, conn: TConn, _client: socket.socket) -> None:
        data = self._recv(conn)
        if data is None:
            return
        if not data:  # the client went away (or closed an idle connection): nothing to answer
            self._unregister(conn)
            self._close(conn)
            return
        self._take(conn, self.arriving[conn], data)

    def _take(self, conn: TConn, arriving: Arriving, data: bytes) -> bool:
        """Feed bytes; True once the connection left this loop (handed to a thread, or refused)."""
        frame = arriving.frame
        head_before = frame.stage is Stage.HEAD
        refusal = frame.feed(data)
        if refusal is not None:
            self._refuse(conn, refusal)
            return True
        if head_before and frame.stage is Stage.BODY:
            if self.body_reserved + frame.body_allowance > self.body_budget:
                self._refuse(conn, Refusal(503, "the service is reading as many request bodies as it has memory "
                                                "for; retry after the time in Retry-After", "body_budget",
                                           retry_after=1))
                return True
            arriving.reserved = frame.body_allowance
            self.body_reserved += arriving.reserved
        if head_before and frame.stage is not Stage.HEAD:
            arriving.deadline = time.monotonic() + self.settings.request_body_timeout
            if frame.wants_continue and frame.stage is Stage.BODY:
                self._send_now(conn, CONTINUE)
        if frame.stage is Stage.COMPLETE:
            self._dispatch(conn)
            return True
        return False

    # -- a whole request goes to a thread -----------------------------------------------------------

    def _dispatch(self, conn: TConn) -> None:
        if self.in_threads >= self.cfg.threads + self.settings.max_queued_requests:
            self._refuse(conn, Refusal(503, "the service is at capacity; retry after the time in Retry-After",
                                       "max_queued_requests", retry_after=1))
            return
        self._unregister(conn)
        request = self._leave(conn).frame.received
        conn.init()  # the HTTP parser, once per connection (it persists across kept-alive requests)
        conn.parser.unreader.unread(bytes(request))
        conn.data_ready = True
        self.in_threads += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self.in_threads -= 1
        super().finish_request(conn, fs)

    # -- refusals, deadlines, closing ---------------------------------------------------------------

    def _refuse(self, conn: TConn, refusal: Refusal) -> None:
        self._unregister(conn)
        frame = self._leave(conn).frame if conn in self.arriving else None
        REFUSED.labels(refusal.reason).inc()
        log.info("refused", extra={"method": frame.method if frame else "", "path": frame.path if frame else "",
                                   "status": refusal.status, "reason": refusal.reason})
        self._send_now(conn, refusal.response())
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_S
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_lingering_readable, conn))

    def _on_lingering_readable(self, conn: TConn, _client: socket.socket) -> None:
        if self._recv(conn) == b"":  # bytes are dropped; the close waits for the client's
            self._unregister(conn)
            self._close(conn)

    def murder_pending(self) -> None:
        """Each turn of the loop (at least once a second): late requests get their 408, done lingerers close."""
        super().murder_pending()
        now = time.monotonic()
        for conn, arriving in list(self.arriving.items()):
            if not self.alive:  # stopping: finish what is arriving soon, or not at all
                arriving.deadline = min(arriving.deadline, now + STOP_KEEPALIVE_LINGER)
            if arriving.deadline > now:
                continue
            frame = arriving.frame
            if not frame.received:
                self._unregister(conn)
                self._close(conn)
            elif frame.stage is Stage.HEAD:
                self._refuse(conn, Refusal(408, "the request's headers did not arrive within "
                                                f"{self.settings.request_header_timeout:g} s "
                                                "(SUGGEST_REQUEST_HEADER_TIMEOUT); send the whole request at once",
                                           "request_header_timeout"))
            else:
                self._refuse(conn, Refusal(408, "the request's body did not arrive within "
                                                f"{self.settings.request_body_timeout:g} s of its headers "
                                                "(SUGGEST_REQUEST_BODY_TIMEOUT); send the whole request at once",
                                           "request_body_timeout"))
        for conn, deadline in list(self.lingering.items()):
            if deadline <= now:
                self._unregister(conn)
                self._close(conn)

    def _send_now(self, conn: TConn, data: bytes) -> None:
        """A short answer from the loop: the socket is non-blocking, so whatever does not fit is dropped."""
        try:
            conn.sock.send(data)
        except OSError:
            pass

    def _unregister(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _leave(self, conn: TConn) -> Arriving:
        """The connection's request stops arriving: it gives back its share of the body budget."""
        arriving = self.arriving.pop(conn)
        self.body_reserved -= arriving.reserved
        return arriving

    def _close(self, conn: TConn) -> None:
        if conn in self.arriving:
            self._leave(conn)
        self.lingering.pop(conn, None)
        self.nr_conns -= 1
        conn.close()
