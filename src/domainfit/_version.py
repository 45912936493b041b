"""The package's version and the physics version datasets record (one place, below every package)."""

__version__ = "0.1.0"
PHYSICS_VERSION = "1"
"""Bumped whenever a change to the physics would change a relaxed state (datasets record it)."""
