"""Builders of every shipped asset, run from the repository root: ``python -m tools.assets.NAME``."""
