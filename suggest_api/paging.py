"""Pages of a listing and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from suggest_api.errors import InvalidInput

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None


def cut(items: Sequence[ItemT], limit: int, position: Callable[[ItemT], int]) -> Page[ItemT]:
    """A page from up to `limit + 1` items read after a cursor: the extra one only says that a next page
    exists, which then starts after the `position` of this page's last item."""
    kept = list(items[:limit])
    return Page(kept, encode_cursor(position(kept[-1])) if len(items) > limit else None)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"]
        if isinstance(after, int) and not isinstance(after, bool):
            return after
    except (ValueError, binascii.Error, KeyError, TypeError):
        pass
    raise InvalidInput("cursor is not one this service issued; pass `next_cursor` from the previous page "
                       "unchanged, or omit it to start over", errors={"cursor": ["invalid cursor"]})
