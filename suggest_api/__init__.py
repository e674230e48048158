"""suggest_api: a stateless HTTP service that suggests hyperparameters."""

__version__ = "0.1.0"
