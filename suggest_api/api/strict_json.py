"""Strict JSON for request bodies: NaN/Infinity literals, numbers that overflow to infinity and
integers too long to parse are a 400 naming the problem, never a 500 or a silent infinity."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import flask
from flask_smorest import abort
from webargs.flaskparser import FlaskParser, is_json_request

MAX_INT_DIGITS = 4000  # below Python's own 4300-digit guard, which raises a bare ValueError


class _Refused(ValueError):
    pass


def _constant(literal: str) -> NoReturn:
    raise _Refused(f"{literal} is not valid JSON; send a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows a 64-bit float; send a finite number")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer with {len(text)} digits is too long; send a shorter number")
    return int(text)


def loads(data: bytes | str) -> Any:
    """Parse strictly; every failure is a json.JSONDecodeError so callers handle one type."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # _Refused, or a bare ValueError from int()
        raise json.JSONDecodeError(str(exc), text, 0) from None


class StrictParser(FlaskParser):
    """flask-smorest's request parser with the strict loader and a precise 400 message."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return super()._raw_load_json(req)
        if "json_body" in flask.g:  # already parsed (strictly) by the app's before_request hook
            return flask.g.json_body
        try:
            return loads(req.get_data(cache=True))
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"body is not UTF-8 ({exc.reason})", "?", 0) from None

    def _handle_invalid_json_error(self, error: Any, req: flask.Request, *args: Any, **kwargs: Any) -> NoReturn:
        reason = getattr(error, "msg", str(error))
        abort(400, message=f"the body is not valid JSON: {reason}", errors={"body": [reason]})
        raise AssertionError("abort() returned")
