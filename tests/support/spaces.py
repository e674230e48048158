"""Search spaces shared by the suggester tests."""

from __future__ import annotations

from suggest_api.space import SearchSpace

#: Every feature at once: log float and log int, stepped int and float, a categorical, and a chain of
#: conditions (`momentum` exists only when `nesterov` is true, which exists only for "sgd").
TRAINING_SPACE = SearchSpace.from_json({"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "layers", "type": "int", "low": 1, "high": 1000, "log": True},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "nesterov", "type": "categorical", "choices": [True, False], "when": {"optimizer": ["sgd"]}},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"nesterov": [True]}},
]})
