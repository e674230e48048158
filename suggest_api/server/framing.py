"""Where one HTTP/1.1 request ends, read from its bytes as they arrive (h11 does the parsing).

The worker (server/worker.py) holds every arriving request here, in its event loop, until the whole
request is in memory: only then does a thread see it, so a client that trickles its headers or body
holds a few kilobytes and a file descriptor, never a thread. A request that breaks a limit is refused
here, before the app runs: a head too large (431), too many headers (431), a URL too long (414), a
declared or chunked body over the size limit (413, before the body is read) or malformed framing (400).
"""

from __future__ import annotations

import enum
import http
import json
import uuid
from dataclasses import dataclass

import h11

from suggest_api.config import body_limit


@dataclass(frozen=True)
class FrameLimits:
    max_url_bytes: int
    max_header_bytes: int
    max_headers: int
    max_body_bytes: int
    #: The one route that takes a whole study at once has a limit of its own.
    max_import_bytes: int = 0

    def body_limit(self, method: str, path: str) -> int:
        return body_limit(method, path, max_body_bytes=self.max_body_bytes, max_import_bytes=self.max_import_bytes)


@dataclass(frozen=True)
class Refusal:
    """An answer the front gives itself, as problem+json, and then closes the connection."""

    status: int
    detail: str
    #: Which limit or rule, for the log line and the metric (never anything the client sent).
    reason: str
    retry_after: int | None = None

    @property
    def title(self) -> str:
        return http.HTTPStatus(self.status).phrase

    def response(self) -> bytes:
        request_id = uuid.uuid4().hex
        body = json.dumps({"type": "about:blank", "title": self.title, "status": self.status,
                           "detail": self.detail, "request_id": request_id}).encode()
        head = [f"HTTP/1.1 {self.status} {self.title}", "Content-Type: application/problem+json",
                f"Content-Length: {len(body)}", f"X-Request-ID: {request_id}", "Connection: close"]
        if self.retry_after is not None:
            head.append(f"Retry-After: {self.retry_after}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Stage(enum.Enum):
    HEAD = "head"
    BODY = "body"
    COMPLETE = "complete"


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestFrame:
    """One request's bytes so far. `feed` them as they come; `stage` says how far the request is, and
    `received` holds every byte (the complete request, and any pipelined bytes after it) for the parser
    that serves it."""

    def __init__(self, limits: FrameLimits) -> None:
        self.limits = limits
        self.received = bytearray()
        self.stage = Stage.HEAD
        self.method = ""
        self.path = ""
        #: The client sent `Expect: 100-continue` and waits for a 100 before its body.
        self.wants_continue = False
        #: The most body bytes this request may still bring, known once its head is in: its Content-Length,
        #: or the size limit for a chunked body.
        self.body_allowance = 0
        self._parser = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self._body_bytes = 0
        self._body_limit = limits.max_body_bytes

    def feed(self, data: bytes) -> Refusal | None:
        """Take the next bytes; a Refusal if the request breaks a limit or HTTP's framing rules."""
        self.received += data
        if self.stage is Stage.COMPLETE:
            return None  # pipelined bytes of the next request: the parser reads them after this one
        self._parser.receive_data(data)
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError as error:
                return self._malformed(error)
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                refused = self._check_head(event)
                if refused is not None:
                    return refused
                self.stage = Stage.BODY
                self.wants_continue = self._parser.they_are_waiting_for_100_continue
            elif isinstance(event, h11.Data):
                self._body_bytes += len(event.data)
                if self._body_bytes > self._body_limit:
                    return self._too_large()
            elif isinstance(event, h11.EndOfMessage):
                self.stage = Stage.COMPLETE
                return None

    def _check_head(self, request: h11.Request) -> Refusal | None:
        self.method = request.method.decode("ascii", "replace")
        self.path = request.target.split(b"?", 1)[0].decode("ascii", "replace")[:200]
        if len(request.target) > self.limits.max_url_bytes:
            return Refusal(414, f"the URL is {len(request.target)} bytes long, over the limit of "
                                f"{self.limits.max_url_bytes} (SUGGEST_MAX_URL_BYTES); send long input in the "
                                "body", "max_url_bytes")
        head_bytes = len(request.method) + len(request.target) + 12 + sum(
            len(name) + len(value) + 4 for name, value in request.headers)
        if head_bytes > self.limits.max_header_bytes:  # h11 checks only a head that arrives in pieces
            return self._head_too_large()
        if len(request.headers) > self.limits.max_headers:
            return Refusal(431, f"the request has {len(request.headers)} header fields, over the limit of "
                                f"{self.limits.max_headers} (SUGGEST_MAX_HEADERS); send fewer", "max_headers")
        self._body_limit = self.limits.body_limit(self.method, self.path)
        chunked = False
        for name, value in request.headers:
            if name == b"content-length":
                if int(value) > self._body_limit:
                    return self._too_large()
                self.body_allowance = int(value)
            elif name == b"transfer-encoding":
                chunked = True
        if chunked:
            self.body_allowance = self._body_limit
        return None

    def _malformed(self, error: h11.RemoteProtocolError) -> Refusal:
        if error.error_status_hint == 431 or (self.stage is Stage.HEAD and len(self.received)
                                              > self.limits.max_header_bytes):
            return self._head_too_large()
        status = error.error_status_hint if 400 <= error.error_status_hint < 500 else 400
        return Refusal(status, f"the request is not valid HTTP/1.1: {error}", "malformed")


    def _head_too_large(self) -> Refusal:
        return Refusal(431, f"the request's head is over the limit of {self.limits.max_header_bytes} bytes "
                            "(SUGGEST_MAX_HEADER_BYTES); send fewer or shorter header fields", "max_header_bytes")


    def _too_large(self) -> Refusal:
        if self._body_limit != self.limits.max_body_bytes:
            return Refusal(413, f"the study document is over the limit of {self._body_limit} bytes "
                                "(SUGGEST_MAX_IMPORT_BYTES); import it with `suggest-api import FILE` on the "
                                "service's machine, or ask the operator to raise the limit", "max_import_bytes")
        return Refusal(413, f"the body is over the limit of {self._body_limit} bytes (SUGGEST_MAX_BODY_BYTES); send a "
                            "smaller one, or split it over several requests", "max_body_bytes")
