"""Differentiable micromagnetics of a perpendicular thin film (one cell layer, periodic)."""

from .disorder import grain_map as grain_map, grain_noise as grain_noise
from .energy import (
    ALL_TERMS as ALL_TERMS,
    TERMS as TERMS,
    effective_field as effective_field,
    energy_density as energy_density,
    total_energy as total_energy,
)
from .grid import Grid as Grid
from .implicit import implicit_minimum as implicit_minimum
from .material import PRESET_DMI as PRESET_DMI, PRESETS as PRESETS, Material as Material, make_material as make_material
from .minimiser import AbstractMinimiser as AbstractMinimiser
from .relax import BB as BB, PBB as PBB, Relaxed as Relaxed, relax as relax, relax_unrolled as relax_unrolled
from .simulate import random_state as random_state, simulate as simulate, simulate_batch as simulate_batch
from .simulate import with_disorder as with_disorder
