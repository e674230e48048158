"""List endpoints, followed page by page: the one place that knows the service's cursor paging."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from suggest_client.transport import Transport

#: Items asked for per page; read at each call, so a test can make pages small.
PAGE_SIZE = 1000


def every_page(transport: Transport, path: str, key: str, query: Mapping[str, Any] | None = None,
               page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """The items under `key` of a list endpoint, following `next_cursor` to the last page."""
    for page in pages(transport, path, query, page_size):
        yield from page[key]


def pages(transport: Transport, path: str, query: Mapping[str, Any] | None = None,
          page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Each whole page of a list endpoint, for endpoints whose pages say more than their items (`/pareto`)."""
    params: dict[str, Any] = {**(query or {}), "limit": PAGE_SIZE if page_size is None else page_size}
    while True:
        page: dict[str, Any] = transport.request("GET", path, params=params)
        yield page
        if not page["next_cursor"]:
            return
        params["cursor"] = page["next_cursor"]
