"""The pruners a study may name. None ships yet; a study without `pruner` never prunes."""

from __future__ import annotations

from suggest_api.plugins import Registry
from suggest_api.pruners.base import Pruner

pruners: Registry[Pruner] = Registry("pruner", none_hint="; omit `pruner` to never prune")
