"""``domainfit.relax_film``: relax a random state of a perpendicular film into a domain pattern, in one call.

The preset fills in what is not given; every parameter is SI. The result holds the relaxed state, the
summary and the resolved configuration that ``domainfit simulate`` prints, and writes the same files::

    import domainfit as df
    r = df.relax_film("co-pt", D=1.5e-3, sigma=0.1, cells=128, key=3)
    print(r)                      # the text of `domainfit simulate --D 1.5 --sigma 0.1 --cells 128 --seed 3`
    r.m                           # (3, ny, nx) unit magnetisation, numpy
    r.save("state.npz")           # m, config_json, summary_json (readable by imaging.load)
    r.save_png("mz.png")          # m_z with axes in µm
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import numbers
import time
from pathlib import Path

from .. import units
from .._files import atomic_write
from ..errors import DomainfitError


def npz_path(path: str | Path) -> Path:
    """Where ``FilmResult.save(path)`` writes: ``path`` with its suffix made ``.npz``."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_suffix(".npz")


@dataclasses.dataclass
class FilmResult:
    """A relaxed film and how it was reached.

    Attributes:
        m: relaxed unit magnetisation (3, ny, nx), a numpy array (float32, or float64 with ``x64``).
        material: the ``physics.Material`` relaxed (preset plus overrides, SI; grains not drawn in).
        grid: the ``physics.Grid``.
        summary: ``relaxed_summary`` (energy [J], max torque, steps, converged, ⟨m_z⟩, wall density
            [1/µm], period [nm]) plus ``wall_time_s`` and ``warnings`` (``regime_warnings``: why the
            state may be no resolved maze).
        config: the resolved configuration (preset, SI parameters, grid, seed, tol, versions), saved
            beside ``m``.
    """

    m: object
    material: object
    grid: object
    summary: dict
    config: dict

    @property
    def converged(self) -> bool:
        return bool(self.summary["converged"])

    @property
    def warnings(self) -> list[str]:
        return list(self.summary["warnings"])

    @property
    def report(self) -> dict:
        """The JSON report of ``domainfit simulate --json``: ``{"summary", "config"}``."""
        return {"summary": self.summary, "config": self.config}

    def lines(self) -> list[str]:
        """The text of ``domainfit simulate`` (stdout), without the warnings (stderr)."""
        s = self.summary
        return [
            f"{'converged' if s['converged'] else 'NOT converged'} after {s['steps']} steps "
            f"(max torque {s['max_torque']:.2e}) in {s['wall_time_s']:.1f} s: "
            f"<m_z> = {s['mean_mz']:+.3f}, period {s['period_nm']:.0f} nm, "
            f"wall density {s['wall_density_per_um']:.2f} /µm, energy {s['energy_J']:.4e} J"
        ]

    def __str__(self) -> str:
        return "\n".join([f"warning: {w}" for w in self.warnings] + self.lines())

    def to_json(self) -> str:
        return json.dumps(self.report, indent=2)

    def save(self, path: str | Path) -> Path:
        """Write ``m``, ``config_json`` and ``summary_json`` to ``path`` (suffix made .npz) atomically;
        returns the path. ``imaging.load`` reads it back with the cell size as pixel size."""
        import numpy as np

        buffer = io.BytesIO()
        np.savez_compressed(buffer, m=np.asarray(self.m), config_json=json.dumps(self.config),
                            summary_json=json.dumps(self.summary))
        return atomic_write(npz_path(path), buffer.getvalue())

    def save_png(self, path: str | Path) -> Path:
        """Write a picture of m_z (axes in µm) titled with D, Ms, σ and the period; returns the path."""
        from ..reports.plots import save_mz_png

        material = self.material
        D, Ms = units.from_si("D", float(material.D)), units.from_si("Ms", float(material.Ms))
        title = (f"D={D:.2f} mJ/m², Ms={Ms:.0f} kA/m, σ={float(material.sigma):.2f}, "
                 f"period {self.summary['period_nm']:.0f} nm")
        return save_mz_png(self.m[2], self.grid.cell_size, path, title=title)


def relax_film(
    preset: str = "co-pt",
    *,
    D: float | None = None,
    Ms: float | None = None,
    Ku: float | None = None,
    A: float | None = None,
    sigma: float | None = None,
    grain_size: float = 20e-9,
    dmi: str | None = None,
    cells: int = 256,
    ny: int | None = None,
    cell_size: float = 4e-9,
    thickness: float = 4e-9,
    field: float = 0.0,
    key=0,
    tol: float = 1e-4,
    max_steps: int = 20_000,
    x64: bool = False,
    progress: bool = False,
) -> FilmResult:
    """Relax a random initial state (and random grains) of a perpendicular film into a domain pattern.

    Args:
        preset: parameter set, "co-pt" or "low-ms" (``physics.material.PRESETS``); it fills in what is
            not given.
        D: DMI constant [J/m²]; Ms: saturation magnetisation [A/m]; Ku: uniaxial anisotropy [J/m³];
            A: exchange stiffness [J/m]; sigma: anisotropy dispersion ΔKu/Ku [1].
        grain_size: grain size [m]; dmi: "interfacial" or "bulk" (default: the preset's).
        cells: cells along x (and y unless ``ny``); cell_size, thickness: [m].
        field: applied perpendicular field H_z [A/m] (not μ0H: μ0H_z = 10 mT is
            ``units.to_si("field", 10)`` ≈ 7958 A/m).
        key: seed (int) or JAX key of the initial state and the grains.
        tol: stop when max |m×H|/Ms < tol; max_steps: minimiser step limit.
        x64: compute in float64 (slower; JAX's x64 mode is switched on for this call only);
            progress: a progress bar on stderr.

    Raises ``DomainfitError`` (one line, naming the ``domainfit simulate`` option, lengths in nm) for
    impossible values, before any relaxation. An unconverged relaxation is no error: see
    ``FilmResult.converged``.
    """
    import contextlib

    import jax

    for name, value in (("grain_size", grain_size), ("cell_size", cell_size), ("thickness", thickness)):
        number = isinstance(value, numbers.Real)
        if not (number and math.isfinite(value) and value > 0):
            shown = f"{units.from_si('length', value):g}" if number else repr(value)
            raise DomainfitError(f"--{name.replace('_', '-')} {shown}: need a finite positive length in nm")
    if not (tol > 0):
        raise DomainfitError(f"--tol {tol}: need a positive tolerance")
    if max_steps < 1:
        raise DomainfitError(f"--max-steps {max_steps}: need at least 1")
    seed = units.check_seed(key, "--seed") if isinstance(key, int) else None
    from ..resources import check_grid

    check_grid(cells, cells if ny is None else ny, x64=x64)  # before anything is allocated
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        return _relax(preset, dict(D=D, Ms=Ms, Ku=Ku, A=A, sigma=sigma), grain_size=grain_size, dmi=dmi,
                      nx=cells, ny=cells if ny is None else ny, cell_size=cell_size, thickness=thickness,
                      field=field, key=jax.random.key(key) if seed is not None else key, seed=seed, tol=tol,
                      max_steps=max_steps, x64=x64, progress=progress)


def _relax(preset, given, *, grain_size, dmi, nx, ny, cell_size, thickness, field, key, seed, tol, max_steps, x64,
           progress) -> FilmResult:
    import jax.numpy as jnp
    import numpy as np

    from .._version import PHYSICS_VERSION, __version__
    from .. import physics
    from ..physics.material import regime_warnings
    from ..units import MU0
    from ..features.state import relaxed_summary

    overrides = {name: float(value) for name, value in given.items() if value is not None}
    overrides["H_ext"] = (0.0, 0.0, float(field))
    grid = physics.Grid(nx=nx, ny=ny, cell_size=cell_size, thickness=thickness)
    material = physics.make_material(preset, dtype=jnp.float64 if x64 else jnp.float32, dmi=dmi,
                                     grain_size=grain_size, **overrides)
    start = time.perf_counter()
    relaxed = physics.simulate(material, grid, key=key, tol=tol, max_steps=max_steps, progress=progress)
    relaxed.m.block_until_ready()
    summary = relaxed_summary(relaxed, grid)
    summary["wall_time_s"] = round(time.perf_counter() - start, 3)
    summary["warnings"] = regime_warnings(material, grid.cell_size, summary["period_nm"] * 1e-9)
    k_eff = float(material.Ku) - 0.5 * MU0 * float(material.Ms) ** 2
    summary["domain_regime"] = bool(k_eff > 0 and abs(float(material.D)) < 4 * math.sqrt(float(material.A) * k_eff) / math.pi)
    config = {
        "preset": preset,
        "parameters_SI": {
            "Ms_A_per_m": float(material.Ms),
            "A_J_per_m": float(material.A),
            "Ku_J_per_m3": float(material.Ku),
            "D_J_per_m2": float(material.D),
            "sigma": float(material.sigma),
            "H_ext_A_per_m": [float(h) for h in material.H_ext],
            "grain_size_m": material.grain_size,
            "dmi": material.dmi,
        },
        "grid": {"nx": grid.nx, "ny": grid.ny, "cell_size_m": grid.cell_size, "thickness_m": grid.thickness},
        "seed": seed,
        "tol": tol,
        "max_steps": max_steps,
        "dtype": "float64" if x64 else "float32",
        "domainfit_version": __version__,
        "physics_version": PHYSICS_VERSION,
    }
    return FilmResult(m=np.asarray(relaxed.m), material=material, grid=grid, summary=summary, config=config)
