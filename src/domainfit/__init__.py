"""domainfit: material parameters (D, Ms, σ) of perpendicular films from one magnetic domain image.

The public API re-exported here is what the CLI calls; every CLI feature is one call away::

    import domainfit as df
    r = df.estimate("example", posterior=True)        # EstimateResult: print(r), r.idata, r.save(dir)
    c = df.compare("image.tif", models={"a": "a.npz", "b": "b.npz"})   # Comparison: Bayes factors
    f = df.relax_film("co-pt", D=1.5e-3, cells=128)   # FilmResult: print(f), f.m, f.save("state.npz")
    i = df.inspect_image("example")                   # Inspection: print(i), i.statistics, i.figure(path)

Submodules and names are imported on first use (PEP 562): ``import domainfit`` costs nothing, so the
command line starts at once (and a Ctrl-C while JAX loads is an ordinary interrupt, not a
traceback); ``domainfit.Grid`` or ``domainfit.nn`` import what they need when first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import DomainfitError as DomainfitError

__version__ = "0.1.0"
PHYSICS_VERSION = "1"
"""Bumped whenever a change to the physics would change a relaxed state (datasets record it)."""

_SUBMODULES = frozenset({"comparison", "data", "estimation", "film", "imaging", "inference", "inspection", "nn",
                         "physics", "plots", "stats", "summary", "units"})
_NAMES = {
    "estimate": "estimation",
    "EstimateResult": "estimation",
    "PosteriorConfig": "estimation",
    "compare": "comparison",
    "Comparison": "comparison",
    "relax_film": "film",
    "FilmResult": "film",
    "inspect_image": "inspection",
    "Inspection": "inspection",
    "BB": "physics",
    "Grid": "physics",
    "Material": "physics",
    "Relaxed": "physics",
    "make_material": "physics",
    "relax": "physics",
    "simulate": "physics",
    "simulate_batch": "physics",
    "relaxed_summary": "summary",
}

__all__ = ["DomainfitError", "PHYSICS_VERSION", "__version__", *sorted(_NAMES), *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'domainfit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what static tools see: the same names, imported eagerly
    from . import (comparison, data, estimation, film, imaging, inference, inspection, nn, physics, plots, stats,
                   summary, units)
    from .comparison import Comparison, compare
    from .estimation import EstimateResult, PosteriorConfig, estimate
    from .film import FilmResult, relax_film
    from .inspection import Inspection, inspect_image
    from .physics import BB, Grid, Material, Relaxed, make_material, relax, simulate, simulate_batch
    from .summary import relaxed_summary
