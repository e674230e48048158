"""The search space's OpenAPI components, rendered from the parser's own definition of the JSON form.

Every param type's keys, which of them are required and what each holds come from `parse.FORMS`;
the bounds from the `Limits` the parser enforces. So a key the parser accepts is a key the document
shows, and the other way round.
"""

from __future__ import annotations

from typing import Any

from suggest_api.config import Limits
from suggest_api.space.params import MAX_INT_MAGNITUDE
from suggest_api.space.parse import CONDITION, FORMS, SCALAR, Form

SEARCH_SPACE = "SearchSpace"
#: A trial's parameters: name -> value.
PARAMS = "Params"


def ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def space_components(limits: Limits) -> dict[str, dict[str, Any]]:
    """The components a study's `space` and a trial's `params` are documented with."""
    variants = {form.kind: form.param_class.__name__ for form in FORMS.values()}
    return {
        **{variants[form.kind]: _param_component(form, limits) for form in FORMS.values()},
        CONDITION: {
            "type": "object", "minProperties": 1,
            "additionalProperties": {"type": "array", "minItems": 1, "maxItems": limits.max_choices, "items": SCALAR},
            "description": "Categorical parent name -> the choices of it for which this parameter is active "
                           "(all parents must match).",
            "example": {"optimizer": ["sgd"]}},
        SEARCH_SPACE: {
            "type": "object", "required": ["params"], "additionalProperties": False,
            "description": "The parameters to suggest; docs/api.md gives every rule.",
            "properties": {"params": {
                "type": "array", "minItems": 1, "maxItems": limits.max_params,
                "items": {"oneOf": [ref(name) for name in variants.values()],
                          "discriminator": {"propertyName": "type", "mapping": {
                              kind: ref(name)["$ref"] for kind, name in variants.items()}}}}},
            "example": {"params": [{"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True}]},
        },
        PARAMS: {
            "type": "object", "additionalProperties": SCALAR,
            "description": "Parameter name -> value: every active parameter, no inactive one.",
            "example": {"lr": 0.01, "batch_size": 64, "optimizer": "sgd", "momentum": 0.9}},
    }


def _param_component(form: Form, limits: Limits) -> dict[str, Any]:
    properties = {key.name: dict(key.schema) for key in form.all_keys}
    properties["name"]["maxLength"] = limits.max_name_length
    properties["grid"]["maxItems"] = limits.max_choices
    if "choices" in properties:
        # A string choice is bounded like a name, so a trial's params (and so every answer) are too.
        properties["choices"].update(maxItems=limits.max_choices,
                                     items={**properties["choices"]["items"], "maxLength": limits.max_name_length})
    if form.kind == "int":
        for bound in ("low", "high"):
            properties[bound].update(minimum=-MAX_INT_MAGNITUDE, maximum=MAX_INT_MAGNITUDE)
    doc = (form.param_class.__doc__ or "").strip().splitlines()
    return {
        "type": "object", "description": doc[0] if doc else form.kind,
        "required": [key.name for key in form.all_keys if key.required],
        "additionalProperties": False,
        "properties": properties,
    }
