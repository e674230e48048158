"""The pruners a study may name; a study without `pruner` never prunes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suggest_api.domain import PluginRef
from suggest_api.plugins import PluginSpec, Registry
from suggest_api.pruners.base import Pruner
from suggest_api.pruners.hyperband import HyperbandOptions, HyperbandPruner
from suggest_api.pruners.patient import PatientOptions, PatientPruner
from suggest_api.pruners.percentile import MedianOptions, PercentileOptions, PercentilePruner, median
from suggest_api.pruners.successive_halving import SuccessiveHalvingOptions, SuccessiveHalvingPruner
from suggest_api.pruners.threshold import ThresholdOptions, ThresholdPruner

pruners: Registry[Pruner] = Registry("pruner", none_hint="; omit `pruner` to never prune")


def _patient(*, patience: int, min_delta: float, pruner: Mapping[str, Any] | None) -> PatientPruner:
    inner = pruners.build(PluginRef(name=pruner["name"], options=pruner["options"])) if pruner else None
    return PatientPruner(patience=patience, min_delta=min_delta, inner=inner)


pruners.register(PluginSpec("median", "Stop a trial worse than the median of completed trials at the same step.",
                            MedianOptions, median))
pruners.register(PluginSpec("percentile", "Stop a trial outside the best `percentile` % of completed trials at "
                            "the same step.", PercentileOptions, PercentilePruner))
pruners.register(PluginSpec("successive_halving", "Asynchronous successive halving (ASHA): at each rung only the "
                            "top 1/reduction_factor continue.", SuccessiveHalvingOptions, SuccessiveHalvingPruner))
pruners.register(PluginSpec("hyperband", "Hyperband: successive-halving brackets of different aggressiveness, a "
                            "trial's bracket derived from its number and the study seed.",
                            HyperbandOptions, HyperbandPruner))
pruners.register(PluginSpec("threshold", "Stop a trial whose reported value leaves [lower, upper].",
                            ThresholdOptions, ThresholdPruner))
pruners.register(PluginSpec("patient", "Stop only a trial that has not improved for `patience` reports (then "
                            "ask the wrapped pruner, if any).", PatientOptions, _patient))
