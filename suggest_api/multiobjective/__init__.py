"""Several objectives and outcome constraints: what a trial's results mean, Pareto dominance, hypervolume."""
