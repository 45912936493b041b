"""Where the package's shipped assets are (``domainfit/assets``: the pretrained model, its emulators,
the parameter sets' emulators, the H½ model and the example images), in one place."""

from __future__ import annotations

from pathlib import Path


def asset_path(name: str) -> Path:
    """The file ``name`` among the shipped assets (it may be missing: the caller says what that means)."""
    from importlib import resources

    return Path(str(resources.files("domainfit") / "assets" / name))
