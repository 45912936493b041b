"""Write the shipped MFM example: the ``example-512`` film recorded by a magnetic force microscope.

    python -m tools.assets.mfm_example

``example-mfm`` (``assets/example_mfm.tif``) is the relaxed m_z of ``example-512`` (D 0.712 mJ/m²,
σ 0.195; a test-set state, in no training set) recorded by ``imaging.record`` with an MFM of a
point-monopole tip (first height derivative of H_z) at 30 nm lift, a 15 nm Gaussian tip blur, 8 nm
pixels (256² px, 2.048 µm), SNR 8, a tilted and bowed background, scan-line offsets and 16-bit
quantisation — instrument settings no training view was drawn with (seed 7 of its own). The TIFF
carries its pixel size in the resolution tags, so ``domainfit estimate example-mfm`` needs nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import tifffile

from domainfit.imaging import Instrument, record

ASSETS = Path(__file__).resolve().parent.parent / "src" / "domainfit" / "assets"

INSTRUMENT = Instrument(transfer="mfm", height=30e-9, mfm_order=1, psf="gaussian", resolution=15e-9, pixel_size=8e-9,
                        noise=1 / 8, line_noise=0.05, background=(0.6, -0.3, 0.2, 0.0, -0.1), bits=16, name="mfm")


def main() -> int:
    with np.load(ASSETS / "example_maze_512.npz") as f:
        mz, cell = f["image"].astype(np.float32), float(f["pixel_size"])
        meta = json.loads(str(f["meta_json"]))
    grey = np.asarray(record(mz, cell, INSTRUMENT, thickness=4e-9, key=jax.random.key(7))).astype(np.uint16)
    description = json.dumps({"what": "simulated MFM image (domainfit imaging.record)", "instrument": INSTRUMENT.describe(),
                              "film": {k: meta[k] for k in ("D_mJ_per_m2", "Ms_kA_per_m", "sigma", "Ku_MJ_per_m3",
                                                            "A_pJ_per_m", "grid", "seed")}})  # fmt: skip
    per_cm = 1e-2 / INSTRUMENT.pixel_size
    tifffile.imwrite(ASSETS / "example_mfm.tif", grey, resolution=(per_cm, per_cm), resolutionunit="CENTIMETER",
                     description=description)  # fmt: skip
    print(description)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
