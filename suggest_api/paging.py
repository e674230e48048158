"""Pages of a listing and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from suggest_api.errors import InvalidInput

ItemT = TypeVar("ItemT")
OtherT = TypeVar("OtherT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None
    #: Each item's position, so that a page cut shorter (`first`) continues right after its last item.
    positions: tuple[int, ...] = ()

    def with_items(self, items: list[OtherT]) -> Page[OtherT]:
        """The same page holding other values for the same items (one for one, in order)."""
        return Page(items, self.next_cursor, self.positions)

    def first(self, count: int) -> Page[ItemT]:
        """The page's first `count` items, continued by a cursor after the last of them."""
        if count >= len(self.items):
            return self
        return replace(self, items=self.items[:count], next_cursor=encode_cursor(self.positions[count - 1]),
                       positions=self.positions[:count])


def cut(items: Sequence[ItemT], limit: int, position: Callable[[ItemT], int]) -> Page[ItemT]:
    """A page from up to `limit + 1` items read after a cursor: the extra one only says that a next page
    exists, which then starts after the `position` of this page's last item."""
    kept = list(items[:limit])
    positions = tuple(position(item) for item in kept)
    return Page(kept, encode_cursor(positions[-1]) if len(items) > limit else None, positions)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


#: Positions are row ids (64-bit) or trial numbers: no cursor this service issues holds anything else.
MAX_POSITION = 2**63 - 1


def decode_cursor(cursor: str | None, *, last: int = MAX_POSITION) -> int:
    """The position a page starts after (-1: the first page). `last`: the largest position the listing can
    hold (trial numbers are 32-bit); a cursor past it starts an empty page, never an out-of-range query."""
    if not cursor:
        return -1
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"]
        if isinstance(after, int) and not isinstance(after, bool) and 0 <= after <= MAX_POSITION:
            return min(after, last)
    except (ValueError, binascii.Error, KeyError, TypeError):
        pass
    raise InvalidInput("cursor is not one this service issued; pass `next_cursor` from the previous page "
                       "unchanged, or omit it to start over", errors={"cursor": ["invalid cursor"]})
