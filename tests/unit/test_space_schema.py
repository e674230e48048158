"""The search space's OpenAPI components say what the parser accepts: the same keys, the same required
ones, the limits it enforces, and the API serves them."""

from __future__ import annotations

from typing import Any

import pytest

from suggest_api.config import Limits
from suggest_api.errors import InvalidSpace
from suggest_api.space import SearchSpace
from suggest_api.space.parse import FORMS
from suggest_api.space.schema import SEARCH_SPACE, space_components

LIMITS = Limits(max_params=7, max_choices=9, max_name_length=11)
PARENT = {"name": "parent", "type": "categorical", "choices": ["a", "b"]}
#: A valid param of each type with every key it may have (conditional on PARENT).
FULL: dict[str, dict[str, Any]] = {
    "float": {"name": "x", "type": "float", "low": 0.0, "high": 1.0, "step": 0.25, "log": False,
              "when": {"parent": ["a"]}, "grid": [0.0, 0.5]},
    "int": {"name": "n", "type": "int", "low": 1, "high": 9, "step": 2, "log": False, "when": {"parent": ["a"]},
            "grid": [1, 3]},
    "categorical": {"name": "c", "type": "categorical", "choices": ["a", "b"], "when": {"parent": ["b"]},
                    "grid": ["a"]},
}


def component(kind: str) -> dict[str, Any]:
    return space_components(LIMITS)[FORMS[kind].param_class.__name__]


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_each_param_type_documents_exactly_the_keys_the_parser_accepts(kind: str) -> None:
    documented = set(component(kind)["properties"])
    assert documented == set(FULL[kind])
    SearchSpace.from_json({"params": [PARENT, FULL[kind]]})  # every documented key at once is accepted
    with pytest.raises(InvalidSpace) as refused:
        SearchSpace.from_json({"params": [PARENT, {**FULL[kind], "color": 1}]})
    assert list(refused.value.errors or {}) == ["params[1].color"]  # and an undocumented one is not


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_each_required_key_is_required_by_the_parser(kind: str) -> None:
    required = component(kind)["required"]
    assert "name" in required and "type" in required
    for key in required:
        without = {k: v for k, v in FULL[kind].items() if k not in (key, "when")}
        with pytest.raises(InvalidSpace) as refused:
            SearchSpace.from_json({"params": [without]})
        assert f"params[0].{key}" in (refused.value.errors or {}), key


def test_the_documented_bounds_are_the_limits_the_parser_enforces() -> None:
    components = space_components(LIMITS)
    assert components[SEARCH_SPACE]["properties"]["params"]["maxItems"] == 7
    assert component("categorical")["properties"]["choices"]["maxItems"] == 9
    assert component("float")["properties"]["name"]["maxLength"] == 11
    with pytest.raises(InvalidSpace, match="limit of 9"):
        SearchSpace.from_json({"params": [{"name": "c", "type": "categorical", "choices": list(range(10))}]},
                              limits=LIMITS)
    with pytest.raises(InvalidSpace, match="limit of 11"):
        SearchSpace.from_json({"params": [{"name": "x" * 12, "type": "float", "low": 0, "high": 1}]}, limits=LIMITS)


def test_the_union_of_param_types_is_told_apart_by_type() -> None:
    items = space_components(LIMITS)[SEARCH_SPACE]["properties"]["params"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(FORMS)
    assert len(items["oneOf"]) == len(FORMS)
