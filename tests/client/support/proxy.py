"""A misbehaving HTTP proxy in front of a real server, to test what the client does when the network
or the service fails: it can forward a request and then drop the connection instead of answering
(the service did the work, the client never hears of it), or answer an error status itself.

Each request is decided by `fault(method, path, seen)`, where `seen` counts earlier requests with
the same method and path; it returns None to forward normally, "drop" to forward and hang up, or a
(status, headers) pair to answer that status without forwarding (headers[PROBLEM_TYPE], when
given, is the problem body's `type`, not a header).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Fault = None | str | tuple[int, dict[str, str]]
#: A key of a fault's headers that sets the injected problem's `type` instead of a header.
PROBLEM_TYPE = "problem-type"
Decide = Callable[[str, str, int], Fault]


class Proxy:
    def __init__(self, upstream: str, fault: Decide) -> None:
        self.upstream = urlsplit(upstream)
        self.fault = fault
        self.seen: Counter[tuple[str, str]] = Counter()
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return self.seen[(method, path)]

    def _decide(self, method: str, path: str, headers: dict[str, str]) -> Fault:
        with self.lock:
            seen = self.seen[(method, path)]
            self.seen[(method, path)] += 1
            self.headers.append(headers)
        return self.fault(method, path, seen)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[Any], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                fault = proxy._decide(self.command, self.path, headers)
                if isinstance(fault, tuple):
                    status, extra = fault
                    problem_type = extra.pop(PROBLEM_TYPE, "about:blank")
                    payload = json.dumps({"type": problem_type, "title": "injected", "status": status,
                                          "detail": "injected by the test proxy"}).encode()
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, response_headers, payload = proxy._forward(self.command, self.path, headers, body)
                if fault == "drop":
                    self.close_connection = True  # the service has answered; the client never hears it
                    return
                self.send_response(status)
                for name, value in response_headers:
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _any  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def proxy(upstream: str, fault: Decide) -> Iterator[Proxy]:
    running = Proxy(upstream, fault)
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        thread.join()
