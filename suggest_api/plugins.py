"""A registry of named algorithms with marshmallow-validated options (suggesters, pruners).

Options are checked when a study is created, so a typo fails there with the field named, not at
the thousandth ask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import marshmallow as ma

from suggest_api.domain import PluginRef
from suggest_api.errors import InvalidInput

T = TypeVar("T")


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


#: What each kind of option field takes, as its JSON type: marshmallow alone would turn 0 into false,
#: "10" into 10 and 2.5 into 2, while the document (and so every client) says boolean, integer, number.
_JSON_TYPES: list[tuple[type[ma.fields.Field[Any]], str, Callable[[Any], bool]]] = [
    (ma.fields.Boolean, "boolean", lambda value: isinstance(value, bool)),
    (ma.fields.Integer, "integer", _is_integer),
    (ma.fields.Float, "number", lambda value: isinstance(value, int | float) and not isinstance(value, bool)),
    (ma.fields.String, "string", lambda value: isinstance(value, str)),
]


def _check_json_types(schema: ma.Schema, options: Mapping[str, Any]) -> None:
    """Refuse an option whose JSON type is not its field's (null and unknown options: the schema decides)."""
    errors: dict[str, list[str]] = {}
    for name, value in options.items():
        field = schema.fields.get(name)
        if field is None or value is None:
            continue
        for kind, json_type, accepts in _JSON_TYPES:
            if isinstance(field, kind) and not accepts(value):
                errors[name] = [f"Not a valid {json_type}."]
    if errors:
        raise ma.ValidationError(errors)


class PluginField(ma.fields.Field):  # type: ignore[type-arg]
    """An option naming another algorithm of the same kind, `{name, options}` (a pruner wrapping a pruner).

    Validated by the registry of `kind` when the study is created, so the inner algorithm's typo fails
    there too; loads as `{name, options}` with the inner defaults filled.
    """

    registries: dict[str, Registry[Any]] = {}

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        metadata = kwargs.setdefault("metadata", {})
        metadata.update({"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "options": {"type": "object"}}, "additionalProperties": False})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping) or not isinstance(value.get("name"), str) or set(value) - {"name", "options"}:
            raise ma.ValidationError('must be {"name": ..., "options": {...}}')
        options = value.get("options", {})
        if not isinstance(options, Mapping):
            raise ma.ValidationError({"options": ["Not a valid mapping type."]})
        try:
            ref = self.registries[self.kind].validate(value["name"], options)
        except InvalidInput as exc:
            raise ma.ValidationError(exc.errors or exc.detail) from None
        return {"name": ref.name, "options": dict(ref.options)}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


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
        PluginField.registries[kind] = self

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
            _check_json_types(schema, options)
            loaded = schema.load(dict(options))
        except ma.ValidationError as exc:
            raise InvalidInput(f"invalid options for {self.kind} {name!r}: fix the fields listed in `errors`",
                               errors={f"{self.kind}.options": exc.messages}) from exc
        return PluginRef(name=name, options=schema.dump(loaded))

    def build(self, ref: PluginRef) -> T:
        """A new instance of the algorithm a study names, with its stored options: built for one ask (or
        report) and forgotten, as the algorithm keeps no state between calls (tens of microseconds)."""
        spec = self._specs[ref.name]
        return spec.factory(**spec.options_schema().load(dict(ref.options)))
