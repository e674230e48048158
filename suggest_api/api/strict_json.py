"""Strict JSON for request bodies: one reading of every body, or a 4xx that says what to change.

Refused, each with a message naming the problem: NaN/Infinity literals, numbers that overflow a float
or are too long to parse, nesting deeper than MAX_DEPTH, a key twice in one object (parsers disagree on
which copy wins), bodies that are not UTF-8 (UTF-16/32, invalid bytes) and charsets other than UTF-8.
A leading UTF-8 byte order mark is ignored (RFC 8259 allows it; Windows tools write one).

The checks before the parse (encoding, depth, which numbers need checking) are linear and run at C speed
(bytes methods, numpy); so the parser never recurses deep enough to fail, and a 1 MiB body of any shape is
read or refused in milliseconds (tests/api/test_body_structure.py measures each shape).
"""

from __future__ import annotations

import codecs
import gc
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import flask
import numpy as np
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

#: Nesting of arrays and objects a body may have. The deepest body the API itself needs is a search
#: space with conditions (body > space > params > param > when > choices: 6); metadata is free-form.
MAX_DEPTH = 64
MAX_INT_DIGITS = 4000  # below Python's own 4300-digit guard, which raises a bare ValueError
UTF8_CHARSETS = frozenset({"utf-8", "utf8"})

#: Byte order marks and, without one, the NUL patterns of the first 4 bytes (RFC 4627, section 3).
_NOT_UTF8_BOMS = ((codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF32_LE, "UTF-32"),
                  (codecs.BOM_UTF16_BE, "UTF-16"), (codecs.BOM_UTF16_LE, "UTF-16"))
_NUL_PATTERNS = ((re.compile(rb"\x00\x00\x00[^\x00]"), "UTF-32"), (re.compile(rb"[^\x00]\x00\x00\x00"), "UTF-32"),
                 (re.compile(rb"\x00[^\x00]"), "UTF-16"), (re.compile(rb"[^\x00]\x00"), "UTF-16"))
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTED = (dict, list)
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")
#: Digits become 0, E becomes e and + goes: a number that may overflow a float shows as "e000" (an exponent of
#: 3+ digits) or as a run of 210 zeros (below both, it is under 10**(209 + 99), finite); a long int as a long run.
_DIGITS = bytes.maketrans(b"123456789E", b"000000000e")
_RISKY_RUN = b"0" * 210
_LONG_RUN = b"0" * (MAX_INT_DIGITS + 1)


class BodyRefused(ValueError):
    """Why a body cannot be read: the problem's status, its detail, and `errors` keyed by field path."""

    def __init__(self, detail: str, *, status: int = 400, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.errors = errors or {"body": [detail]}


class _Refused(ValueError):
    """Raised inside the parser's hooks; loads turns it into BodyRefused."""


def check_charset(mimetype_params: Mapping[str, str]) -> None:
    """415 unless the Content-Type's charset, when given, is UTF-8: the bytes are read as nothing else."""
    charset = mimetype_params.get("charset")
    if charset is not None and charset.strip().lower() not in UTF8_CHARSETS:
        raise BodyRefused(f"the body is declared as charset={charset[:40]}; this service takes JSON encoded as "
                          "UTF-8 only: send UTF-8 with Content-Type: application/json (charset=utf-8, or none)",
                          status=415, errors={"Content-Type": ["charset must be utf-8"]})


def loads(data: bytes) -> Any:
    """Parse a body strictly; every refusal is a BodyRefused, so callers handle one type."""
    text = _decode(data.removeprefix(codecs.BOM_UTF8))
    _check_depth(data)
    parse_float, parse_int = _number_hooks(data)
    duplicates: list[tuple[dict[str, Any], str]] = []

    def build_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) != len(pairs) and not duplicates:
            duplicates.append((built, _first_repeated([key for key, _ in pairs])))
        return built

    try:
        with _collector_paused():
            value = json.loads(text, parse_constant=_constant, parse_float=parse_float, parse_int=parse_int,
                               object_pairs_hook=build_object)
    except RecursionError:  # not reached after _check_depth; kept so no body can ever make it escape
        raise _too_deep(f"more than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise _invalid(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:  # _Refused, or a bare ValueError from int()
        raise _invalid(str(exc)) from None
    if duplicates:
        obj, key = duplicates[0]
        with _collector_paused():
            path = (_path_to(value, obj) + _segment(key)).removeprefix(".")
        raise BodyRefused(f"the body has the key {key[:40]!r} twice in one object (at {path}); JSON parsers "
                          "disagree on which copy wins, so send each key once",
                          errors={path: ["this key appears more than once in its object"]})
    return value


def _decode(data: bytes) -> str:
    for bom, encoding in _NOT_UTF8_BOMS:
        if data.startswith(bom):
            raise _not_utf8(encoding)
    for pattern, encoding in _NUL_PATTERNS:
        if pattern.match(data):
            raise _not_utf8(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise BodyRefused(f"the body is not valid UTF-8: byte 0x{byte:02x} at offset {exc.start} ({exc.reason}); "
                          "send JSON encoded as UTF-8") from None


def _not_utf8(encoding: str) -> BodyRefused:
    return BodyRefused(f"the body looks {encoding}-encoded; this service takes JSON encoded as UTF-8 only "
                       "(RFC 8259): re-encode it as UTF-8")


def _check_depth(data: bytes) -> None:
    """Refuse nesting beyond MAX_DEPTH before parsing. Few brackets (any ordinary body) cost two counts;
    else strings are cut out (escapes first, so every quote left delimits one) and the brackets summed."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_DEPTH:
        return
    depth = int(np.cumsum(_STEP[np.frombuffer(brackets, dtype=np.uint8)], dtype=np.int32).max())
    if depth > MAX_DEPTH:
        raise _too_deep(str(depth))


def _number_hooks(data: bytes) -> tuple[Callable[[str], float] | None, Callable[[str], int] | None]:
    """The checking number parsers, only for a body that may need them (None: the parser's own, 4x faster)."""
    digits = data.translate(_DIGITS, b"+")
    risky = b"e000" in digits or _RISKY_RUN in digits
    return (_float if risky else None), (_int if _LONG_RUN in digits else None)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing makes no reference cycles, so the garbage collector has nothing to find meanwhile; running, it
    walks the half-built tree (and the whole process) again and again: 3-5x the parse of 1 MiB of small arrays.
    Concurrent requests may overlap here; the collector is on again once the one that paused it is done."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _too_deep(depth: str) -> BodyRefused:
    return BodyRefused(f"the body nests arrays and objects {depth} levels deep, above the limit of {MAX_DEPTH}; "
                       "flatten it (no request of this API needs more than a few levels)")


def _invalid(reason: str) -> BodyRefused:
    return BodyRefused(f"the body is not valid JSON: {reason}", errors={"body": [reason]})


def _constant(literal: str) -> NoReturn:
    raise _Refused(f"{literal} is not valid JSON; send a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows a 64-bit float; send a finite number")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer with {digits} digits is too long (the limit is {MAX_INT_DIGITS}); "
                       "send a shorter number")
    return int(text)


def _first_repeated(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key repeats")


def _segment(key: str) -> str:
    """One step of a field path, as the API's errors write them: `.name`, or `["odd key"]`."""
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    shown = key if len(key) <= 40 else key[:37] + "..."
    return f"[{json.dumps(shown)}]"


def _path_to(root: Any, target: dict[str, Any]) -> str:
    """The path from the body to the object `target` (found by identity), without recursion; in document order,
    since the parser finds the first duplicate early in it."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if type(node) is dict:
            children = [(child, path + _segment(key)) for key, child in node.items() if type(child) in _NESTED]
        elif type(node) is list:
            children = [(child, f"{path}[{i}]") for i, child in enumerate(node) if type(child) in _NESTED]
        else:
            continue
        stack.extend(reversed(children))
    raise AssertionError("the object is not in the body")


class StrictParser(FlaskParser):
    """flask-smorest's request parser with the strict loader and a precise 400 message."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return super()._raw_load_json(req)
        if "json_body" in flask.g:  # already parsed (strictly) by the app's before_request hook
            return flask.g.json_body
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return loads(data)
        except BodyRefused as exc:
            abort(exc.status, message=exc.detail, errors=exc.errors)
            raise AssertionError("abort() returned") from None

    def _handle_invalid_json_error(self, error: Any, req: flask.Request, *args: Any, **kwargs: Any) -> NoReturn:
        reason = getattr(error, "msg", str(error))
        abort(400, message=f"the body is not valid JSON: {reason}", errors={"body": [reason]})
        raise AssertionError("abort() returned")
