"""Build the shipped parameter sets' emulators (``assets/set_co-pt.emulator.npz``, ``set_low-ms.emulator.npz``).

Each set's emulator of the shipped CNN's statistics and the image's domain geometry (``emulator --learned
--geometry domains``) is fitted on the states of even chunk number of its dataset (``FITS``: degrees and
instrument views per state, drawn from the CNN's training distribution); the odd chunks stay held out
for ``studies/set_comparison.py``, ``studies/sbc.py`` and ``studies/evidence_repeat.py``. Commands and
data: docs/inference.md ("Which parameter set").

  python -m tools.assets.set_emulators --copt ~/domainfit-data/coptd0_512 --lowms ~/domainfit-data/lowms512 \
      --out src/domainfit/assets
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

from domainfit.data.splits import chunk_rows
from domainfit.data.store import Dataset

FITS = {"co-pt": (3, 2, 4), "low-ms": (2, 1, 2)}
"""(degree of μ, degree of log σ², instrument views per state) of each shipped set emulator. co-pt: 3/2
with 4 views since 3 Dec 2026 (2/1 with 2 views failed the SBC of D, docs/inference.md)."""
GEOMETRY = "domains"
"""The geometry statistics of the shipped set emulators (``learned.GEOMETRIES``): of the image's domains
since the evening of 3 Dec 2026 (the sign of recorded low-ms images read 2× their walls or more in 55 %
of views, studies/sign_geometry.py)."""


def fit_set(data: str, loaded, rows, fit: tuple[int, int, int], geometry: str = GEOMETRY):
    from domainfit.surrogate import emulator_from_dataset

    degree, degree_var, draws = fit
    return emulator_from_dataset(data, learned=loaded, draws=draws, geometry=geometry, degree=degree,
                                 degree_var=degree_var, rows=rows, key=jax.random.key(0))


def save(folder: Path, emulators: dict) -> None:
    """Write each set's emulator as set_<name>.emulator.npz."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, emu in emulators.items():
        print(f"saved {emu.save(folder / f'set_{name}.emulator.npz')}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copt", required=True, help="the co-pt dataset (coptd0_512)")
    ap.add_argument("--lowms", required=True, help="the low-ms dataset (lowms512)")
    ap.add_argument("--out", type=Path, required=True, help="folder for set_<name>.emulator.npz")
    args = ap.parse_args(argv)
    import domainfit as df

    loaded = df.nn.load_default()
    emulators = {name: fit_set(data, loaded, chunk_rows(Dataset(data), 0), FITS[name])
                 for name, data in (("co-pt", args.copt), ("low-ms", args.lowms))}
    save(args.out, emulators)


if __name__ == "__main__":
    main()
