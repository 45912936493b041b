"""domainfit: material parameters (D, Ms, σ) of perpendicular films from one magnetic domain image.

The public API re-exported here is what the CLI calls; every CLI feature is one call away.
"""

__version__ = "0.1.0"
PHYSICS_VERSION = "1"
"""Bumped whenever a change to the physics would change a relaxed state (datasets record it)."""

from . import physics as physics, stats as stats, units as units
from .errors import DomainfitError as DomainfitError
from .physics import (
    BB as BB,
    Grid as Grid,
    Material as Material,
    Relaxed as Relaxed,
    make_material as make_material,
    relax as relax,
    simulate as simulate,
    simulate_batch as simulate_batch,
)
from .summary import relaxed_summary as relaxed_summary
from . import data as data, imaging as imaging, nn as nn

# ``domainfit.inference`` (numpyro, ArviZ) is imported on use, not here: it would add seconds to
# every command's start-up.
