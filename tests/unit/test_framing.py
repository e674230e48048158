"""The HTTP front's framing (suggest_api/server/framing.py): where a request ends, whatever pieces its bytes
arrive in, and which requests it refuses before the app runs."""

from __future__ import annotations

import json

import pytest

from suggest_api.server.framing import FrameLimits, Refusal, RequestFrame, Stage

LIMITS = FrameLimits(max_url_bytes=100, max_header_bytes=1000, max_headers=10, max_body_bytes=50)
POST = b"POST /v1/studies/s/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"


def fed(*pieces: bytes, limits: FrameLimits = LIMITS) -> tuple[RequestFrame, Refusal | None]:
    frame = RequestFrame(limits)
    refusal = None
    for piece in pieces:
        refusal = frame.feed(piece)
        if refusal is not None:
            break
    return frame, refusal


def stage(frame: RequestFrame) -> Stage:
    """The frame's stage, read anew (feeding moves it on, which a type checker's narrowing does not see)."""
    return frame.stage


def problem(refusal: Refusal) -> dict[str, object]:
    head, body = refusal.response().split(b"\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {refusal.status} ".encode())
    assert b"Content-Type: application/problem+json" in head and b"Connection: close" in head
    answer: dict[str, object] = json.loads(body)
    assert answer["status"] == refusal.status and answer["detail"] == refusal.detail
    return answer


def test_a_request_is_complete_only_when_its_last_body_byte_arrives() -> None:
    request = POST + b'{"n": 12}'
    frame = RequestFrame(LIMITS)
    for i in range(len(request) - 1):
        assert frame.feed(request[i:i + 1]) is None
        assert frame.stage is (Stage.HEAD if i < len(POST) - 1 else Stage.BODY)
    assert frame.feed(request[-1:]) is None
    assert frame.stage is Stage.COMPLETE
    assert bytes(frame.received) == request
    assert (frame.method, frame.path) == ("POST", "/v1/studies/s/ask")


def test_a_chunked_body_ends_at_its_last_chunk_and_pipelined_bytes_are_kept() -> None:
    head = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    frame, refusal = fed(head, b"4\r\n{\"a\"\r\n", b"3\r\n:1}\r\n")
    assert refusal is None and frame.stage is Stage.BODY
    next_request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert frame.feed(b"0\r\n\r\n" + next_request) is None
    assert stage(frame) is Stage.COMPLETE
    assert bytes(frame.received).endswith(next_request)


def test_a_request_without_a_body_is_complete_after_its_head() -> None:
    frame, refusal = fed(b"GET /v1/studies?limit=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert refusal is None and frame.stage is Stage.COMPLETE and frame.path == "/v1/studies"


def test_expect_100_continue_is_noticed() -> None:
    frame, _ = fed(POST.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
    assert frame.stage is Stage.BODY and frame.wants_continue


@pytest.mark.parametrize(("pieces", "status", "reason"), [
    pytest.param([b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n"], 414, "max_url_bytes", id="long-url"),
    pytest.param([b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10)) + b"\r\n"],
                 431, "max_headers", id="many-headers"),
    pytest.param([b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 1000 + b"\r\n\r\n"], 431, "max_header_bytes",
                 id="large-head-at-once"),
    pytest.param([b"GET / HTTP/1.1\r\nHost: x\r\n"] + [b"X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"] * 40, 431,
                 "max_header_bytes", id="large-head-in-pieces"),
    pytest.param([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 51\r\n\r\n"], 413, "max_body_bytes",
                 id="declared-body-too-large"),
    pytest.param([b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"40\r\n" + b"a" * 64],
                 413, "max_body_bytes", id="chunked-body-too-large"),
    pytest.param([b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"], 400, "malformed",
                 id="conflicting-lengths"),
    pytest.param([b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"], 400, "malformed", id="tls-hello"),
    pytest.param([b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"], 400, "malformed", id="bad-header-name"),
])
def test_what_breaks_a_limit_or_the_framing_is_refused_with_a_problem(
        pieces: list[bytes], status: int, reason: str) -> None:
    _, refusal = fed(*pieces)
    assert refusal is not None, "expected a refusal"
    assert (refusal.status, refusal.reason) == (status, reason)
    assert problem(refusal)["title"] == refusal.title


def test_a_request_at_every_limit_is_accepted() -> None:
    url = b"/" + b"a" * 99
    head = b"POST " + url + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n" + b"".join(
        b"X-%d: 1\r\n" % i for i in range(8)) + b"\r\n"
    frame, refusal = fed(head, b"a" * 50)
    assert refusal is None and frame.stage is Stage.COMPLETE


def test_a_busy_refusal_says_when_to_retry() -> None:
    refusal = Refusal(503, "at capacity", "max_queued_requests", retry_after=1)
    assert b"Retry-After: 1\r\n" in refusal.response()
    assert problem(refusal)["title"] == "Service Unavailable"


def test_the_study_import_route_has_a_body_limit_of_its_own() -> None:
    """POST /v1/studies:import takes a whole study (max_import_bytes); every other route keeps max_body_bytes."""
    limits = FrameLimits(max_url_bytes=100, max_header_bytes=1000, max_headers=10, max_body_bytes=50,
                         max_import_bytes=200)

    def head(method: str, path: str, length: int) -> bytes:
        return f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()

    frame, refusal = fed(head("POST", "/v1/studies:import?name=x", 150), b"x" * 150, limits=limits)
    assert refusal is None and stage(frame) is Stage.COMPLETE
    _, refusal = fed(head("POST", "/v1/studies:import", 201), limits=limits)
    assert refusal is not None and refusal.status == 413 and refusal.reason == "max_import_bytes"
    assert "SUGGEST_MAX_IMPORT_BYTES" in refusal.detail and "suggest-api import" in refusal.detail
    for method, path in (("POST", "/v1/studies"), ("PUT", "/v1/studies:import"), ("POST", "/v1/studies:import/x")):
        _, refusal = fed(head(method, path, 150), limits=limits)
        assert refusal is not None and refusal.reason == "max_body_bytes", (method, path)
    chunked = b"POST /v1/studies:import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    frame, refusal = fed(chunked, b"96\r\n" + b"x" * 150 + b"\r\n0\r\n\r\n", limits=limits)
    assert refusal is None and stage(frame) is Stage.COMPLETE and frame.body_allowance == 200
