"""The OpenAPI description of each suggester's options, generated from the registry.

The `suggester` field of a new study is one of these: `{"name": "grid", "options": {...GridOptions}}`.
Options are validated by the same marshmallow schemas at creation, so the document cannot drift from
what the service accepts.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec import APISpec
from marshmallow import fields, validate

from suggest_api.plugins import PluginSpec, Registry


def _component_name(kind: str, spec: PluginSpec[Any]) -> str:
    return "".join(part.capitalize() for part in spec.name.split("_")) + kind.capitalize()


def one_of(registry: Registry[Any]) -> dict[str, Any]:
    """The schema of a field naming an algorithm: one of the components `register` adds, told apart
    by `name` (so a client generator makes a typed union of them)."""
    refs = {spec.name: f"#/components/schemas/{_component_name(registry.kind, spec)}"
            for spec in registry.specs().values()}
    return {"oneOf": [{"$ref": target} for target in refs.values()],
            "discriminator": {"propertyName": "name", "mapping": refs}}


def one_of_or_null(registry: Registry[Any], **extra: Any) -> dict[str, Any]:
    """`one_of`, or null; only null while nothing is registered (an empty oneOf matches nothing)."""
    if not registry.specs():
        return {"type": "null", **extra}
    return {"anyOf": [one_of(registry), {"type": "null"}], **extra}


def register(document: APISpec, registry: Registry[Any]) -> None:
    """Add one component per algorithm to the document: its name and its options schema."""
    for spec in registry.specs().values():
        component = _component_name(registry.kind, spec)
        options_name = component + "Options"
        document.components.schema(options_name, schema=spec.options_schema)
        variant = ma.Schema.from_dict({
            "name": fields.String(required=True, validate=validate.OneOf([spec.name])),
            "options": fields.Nested(spec.options_schema, load_default=dict),
        }, name=component)
        document.components.schema(component, {"description": spec.summary}, schema=variant)
