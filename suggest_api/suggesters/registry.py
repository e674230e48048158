"""The suggesters a study may name. New algorithms register here with their options schema."""

from __future__ import annotations

from suggest_api.plugins import NoOptions, PluginSpec, Registry
from suggest_api.suggesters.base import Suggester
from suggest_api.suggesters.random import RandomSuggester

suggesters: Registry[Suggester] = Registry("suggester")
suggesters.register(PluginSpec("random", "Uniform random sampling; trial k depends only on (seed, k).",
                               NoOptions, RandomSuggester))
