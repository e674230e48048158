"""The suggesters a study may name. New algorithms register here with their options schema."""

from __future__ import annotations

from suggest_api.plugins import NoOptions, PluginSpec, Registry
from suggest_api.suggesters.base import Suggester
from suggest_api.suggesters.bayesian import BayesianOptions, BayesianSuggester
from suggest_api.suggesters.genetic import GeneticOptions, GeneticSuggester
from suggest_api.suggesters.grid import GridOptions, GridSuggester
from suggest_api.suggesters.random import RandomSuggester

suggesters: Registry[Suggester] = Registry("suggester")
suggesters.register(PluginSpec("random", "Uniform random sampling; trial k depends only on (seed, k).",
                               NoOptions, RandomSuggester))
suggesters.register(PluginSpec("grid", "Every combination of each param's grid values, each handed out once.",
                               GridOptions, GridSuggester))
suggesters.register(PluginSpec("bayesian", "Gaussian-process Bayesian optimization (Matérn-5/2, expected "
                               "improvement), after a Sobol initial design.", BayesianOptions, BayesianSuggester))
suggesters.register(PluginSpec("genetic", "Asynchronous steady-state genetic algorithm: tournament selection, "
                               "crossover, mutation, elitism.", GeneticOptions, GeneticSuggester))
