"""Suggesters: pure functions of (space, history, generators) -> parameter dicts."""
