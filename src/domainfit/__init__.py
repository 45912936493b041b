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

from ._version import PHYSICS_VERSION as PHYSICS_VERSION, __version__ as __version__

_SUBMODULES = frozenset({"data", "diagnostics", "features", "films", "forward", "imaging", "inference", "nn", "observations", "parameters",
                         "physics", "reports", "surrogate", "tasks", "units", "workflows"})
_NAMES = {  # public name -> the module that defines it
    "estimate": "workflows.estimate",
    "Film": "films",
    "parse_film": "films",
    "EstimateResult": "workflows.result",
    "PosteriorConfig": "workflows.result",
    "compare": "workflows.compare",
    "Comparison": "workflows.compare",
    "relax_film": "workflows.film",
    "FilmResult": "workflows.film",
    "inspect_image": "workflows.inspect",
    "Inspection": "workflows.inspect",
    "BB": "physics",
    "PBB": "physics",
    "Grid": "physics",
    "Material": "physics",
    "Relaxed": "physics",
    "make_material": "physics",
    "relax": "physics",
    "simulate": "physics",
    "simulate_batch": "physics",
    "relaxed_summary": "features.state",
    "Cluster": "tasks",
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
    from . import (data, diagnostics, features, imaging, inference, nn, observations, parameters, physics, reports,
                   surrogate, tasks, units, workflows)
    from .features.state import relaxed_summary
    from .tasks import Cluster
    from .physics import BB, PBB, Grid, Material, Relaxed, make_material, relax, simulate, simulate_batch
    from .workflows.compare import Comparison, compare
    from .workflows.estimate import estimate
    from .workflows.film import FilmResult, relax_film
    from .workflows.inspect import Inspection, inspect_image
    from .workflows.result import EstimateResult, PosteriorConfig
