"""Strategies: the API strategy files subclass, and the runtime that drives them."""
