"""A registry of named algorithms with marshmallow-validated options (suggesters, pruners).

Options are checked when a study is created, so a typo fails there with the field named, not at
the thousandth ask.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import marshmallow as ma

from suggest_api.errors import InvalidInput
from suggest_api.trials import PluginRef

T = TypeVar("T")


class NoOptions(ma.Schema):
    """Options schema for an algorithm that takes none; unknown keys are refused."""


@dataclass(frozen=True)
class PluginSpec(Generic[T]):
    name: str
    summary: str
    options_schema: type[ma.Schema]
    factory: Callable[..., T]


class Registry(Generic[T]):
    def __init__(self, kind: str, *, none_hint: str = "") -> None:
        self.kind = kind
        self.none_hint = none_hint
        self._specs: dict[str, PluginSpec[T]] = {}
        self._built: dict[tuple[str, str], T] = {}

    def register(self, spec: PluginSpec[T]) -> None:
        self._specs[spec.name] = spec

    def specs(self) -> Mapping[str, PluginSpec[T]]:
        return dict(self._specs)

    def validate(self, name: str, options: Mapping[str, Any]) -> PluginRef:
        """Check the name and options; return them normalized (defaults filled) for storage."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "none are installed yet"
            raise InvalidInput(f"unknown {self.kind} {name!r}; available: {known}{self.none_hint}",
                               errors={f"{self.kind}.name": [f"must be one of: {known}"]})
        schema = spec.options_schema()
        try:
            loaded = schema.load(dict(options))
        except ma.ValidationError as exc:
            raise InvalidInput(f"invalid options for {self.kind} {name!r}: fix the fields listed in `errors`",
                               errors={f"{self.kind}.options": exc.messages}) from exc
        return PluginRef(name=name, options=schema.dump(loaded))

    def build(self, ref: PluginRef) -> T:
        """The algorithm for a study's stored name and options. Algorithms keep no state between calls,
        so one instance per (name, options) serves every ask of this worker."""
        key = (ref.name, json.dumps(ref.options, sort_keys=True))
        built = self._built.get(key)
        if built is None:
            spec = self._specs[ref.name]
            if len(self._built) >= 1024:
                self._built.clear()
            built = self._built[key] = spec.factory(**spec.options_schema().load(dict(ref.options)))
        return built
