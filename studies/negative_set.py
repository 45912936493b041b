"""Nothing that is not a domain image is trusted (issue 35, item 3, acceptance 2).

Two sets go through ``df.estimate`` as a user's files and arrays would:

- **negatives** (``studies.negative_images``, made here, nothing downloaded): text, line drawings,
  figures with axes, natural textures, the example through colour maps (RGB PNG), regular stripes and
  checkerboards, photo-like gradients — written as PNG files to ``--out``/negatives and read back from
  them with a pixel size a user might give;
- **held-out positives**: co-pt states (D and σ drawn from the shipped CNN's box) relaxed on 256² cells
  of 4 nm from seeds 970000 + i (no dataset, design or study uses them), each recorded by many
  instruments: the study instruments (Kerr-like, MFM-like, binarised: ``studies.film_posterior``) and
  draws of the microscope benchmark's distribution (``data.instruments.TEST``: ideal, Gaussian, MFM,
  probe and Lorentzian point spreads with noise, saturation, backgrounds, scan lines, quantisation) at
  pixels of 4–16 nm. Some are written as grey PNGs, as grey saved in RGB, or tinted with one hue.

Per image: trusted or not, the reasons with their codes (``Notice.code``; the older checks' reasons
classified by their wording, here only) and the image measures of ``features.domain_likeness``.
Summary: the share of negatives flagged or refused (target ≥ 95 %), the share of positives passing
(target ≥ 98 %), and which check catches what, by category.

    python -m studies.negative_set --out ~/domainfit-data/negative_set --json docs/figures/negative_set.json

Relaxed states are cached in ``--out``/states (a rerun resumes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SEED = 970000
"""Seeds of the held-out states (970000 + i): no dataset, design point or other study draws them."""
PIXELS_NM = (4.0, 6.0, 8.0, 10.0, 12.0, 16.0)


def relaxed_state(i: int, folder: Path, cells: int = 256) -> tuple[np.ndarray, dict]:
    """m_z [cells, cells] of held-out co-pt state i (cells of 4 nm) and its truth, cached in ``folder``."""
    path = folder / f"state{i:02d}.npz"
    if path.exists():
        with np.load(path) as f:
            return f["mz"], json.loads(str(f["truth"]))
    import io

    import jax
    import jax.numpy as jnp

    from domainfit import physics
    from domainfit._files import atomic_write
    from domainfit.films import preset_film

    film = preset_film("co-pt")
    rng = np.random.default_rng([SEED, i])
    D, sigma = rng.uniform(0.1e-3, 1.0e-3), rng.uniform(0.05, 0.2)
    g = physics.Grid(nx=cells, ny=cells, cell_size=4e-9, thickness=film.values()["thickness"])
    mat = physics.make_material("co-pt", D=D, sigma=sigma, dmi=film.dmi, grain_size=film.grain_size, dtype=jnp.float32)
    t0 = time.perf_counter()
    r = physics.simulate(mat, g, key=jax.random.key(SEED + i), tol=1e-3, minimiser=physics.PBB())
    truth = {"D": D, "sigma": sigma, "converged": bool(r.converged), "seconds": time.perf_counter() - t0,
             "cells": cells, "cell_size": 4e-9, "thickness": film.values()["thickness"], "seed": SEED + i}
    buf = io.BytesIO()
    np.savez(buf, mz=np.asarray(r.m[2], np.float32), truth=json.dumps(truth))
    atomic_write(path, buf.getvalue())
    return np.asarray(r.m[2], np.float32), truth


def instruments(i: int, n: int) -> list:
    """n instruments recording state i: the three study instruments at 8 nm, then draws of ``TEST``
    at pixel sizes of 4–16 nm in turn."""
    from domainfit.data.instruments import TEST, draw_instrument

    from .film_posterior import INSTRUMENTS, instrument

    out = [instrument(name, 8e-9) for name in INSTRUMENTS]
    rng = np.random.default_rng([SEED, i, 1])
    for j in range(n - len(out)):
        out.append(draw_instrument(TEST, rng, pixel_size=PIXELS_NM[(i + j) % len(PIXELS_NM)] * 1e-9))
    return out[:n]


def saved_as(j: int) -> str:
    """How positive view j reaches ``estimate``: mostly the recorded array; every fifth a grey PNG, a
    grey image saved as RGB, or one tinted with a single hue (a monochrome camera's false colour)."""
    return {0: "grey_png", 1: "rgb_grey_png", 2: "tinted_png"}.get(j // 5, "array") if j % 5 == 4 else "array"


def write_png(path: Path, image: np.ndarray, how: str) -> Path:
    from PIL import Image

    from domainfit._files import atomic_path

    x = np.asarray(image, np.float64)
    lo, hi = np.quantile(x, [0.001, 0.999])
    u8 = np.round(255 * np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1)).astype(np.uint8)
    if how == "rgb_grey_png":
        u8 = np.repeat(u8[..., None], 3, axis=-1)
    elif how == "tinted_png":  # a green phosphor: each channel a fixed share of the grey level
        u8 = np.round(u8[..., None] * np.array([0.35, 1.0, 0.45])).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(u8).save(tmp, format="PNG")
    return path


def codes(reasons) -> list[str]:
    """The code of each reason: its ``Notice.code``, or (older checks, plain text) a name from its wording."""
    from domainfit.notices import code_of

    words = {"pixels of": "coarse_pixels", "field of view": "small_field", "pixel noise": "pattern_contrast",
             "domain walls": "no_walls", "no domain pattern": "no_walls", "pixels per domain period": "few_pixels",
             "periods in view": "few_periods", "domain period (": "period_range", "feature score": "feature_score"}
    out = []
    for r in reasons:
        code = code_of(r) or next((c for w, c in words.items() if w in str(r)), "other")
        out.append(code)
    return out


def judge(source, pixel_size: float) -> dict:
    """``df.estimate`` of one image (a path or an array): trusted, reasons, codes, D, the support measures."""
    import domainfit as df
    from domainfit.errors import DomainfitError

    try:
        r = df.estimate(source, pixel_size=pixel_size)
    except DomainfitError as err:
        return {"refused": str(err), "trusted": False, "codes": ["refused"]}
    reasons = list(r.cnn.reasons)
    return {"trusted": bool(r.trustworthy), "reasons": [str(x) for x in reasons], "codes": codes(reasons),
            "D_mJ_m2": r.report["parameters"]["D"]["mean"], "support": r.report["support"]}


def negative_rows(folder: Path, seed: int) -> list[dict]:
    from PIL import Image

    from domainfit._files import atomic_path

    from .negative_images import negatives

    (folder / "negatives").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, category, image, pixel in negatives(seed):
        path = folder / "negatives" / f"{name}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
        row = {"name": name, "category": category, "shape": list(image.shape), "pixel_size_nm": pixel * 1e9}
        rows.append(row | judge(path, pixel))
        print(f"{name}: {'TRUSTED' if rows[-1]['trusted'] else ', '.join(rows[-1]['codes'])}", flush=True)
    return rows


def positive_rows(folder: Path, states, views: int) -> list[dict]:
    import jax

    from domainfit.imaging import record

    (folder / "states").mkdir(parents=True, exist_ok=True)
    (folder / "positives").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in states:
        mz, truth = relaxed_state(i, folder / "states")
        for j, inst in enumerate(instruments(i, views)):
            img = np.asarray(record(jax.numpy.asarray(mz), truth["cell_size"], inst, thickness=truth["thickness"],
                                    key=jax.random.key(SEED + 1000 * i + j)))
            how = saved_as(j)
            source = img if how == "array" else write_png(folder / "positives" / f"state{i:02d}_{j:02d}.png", img, how)
            row = {"state": i, "view": j, "truth": {"D_mJ_m2": truth["D"] * 1e3, "sigma": truth["sigma"]},
                   "instrument": inst.describe(), "saved_as": how, "shape": list(img.shape)}
            rows.append(row | judge(source, inst.pixel_size))
            print(f"state {i} view {j} ({inst.name}, {inst.pixel_size * 1e9:.0f} nm, {how}): "
                  f"{'trusted' if rows[-1]['trusted'] else 'FLAGGED ' + ', '.join(rows[-1]['codes'])}", flush=True)
    return rows


def summarise(neg: list[dict], pos: list[dict]) -> dict:
    from .negative_images import CATEGORIES

    table = {}
    for c in CATEGORIES:
        rows = [r for r in neg if r["category"] == c]
        caught = {}
        for r in rows:
            for code in set(r["codes"]):
                caught[code] = caught.get(code, 0) + 1
        table[c] = {"n": len(rows), "flagged": sum(not r["trusted"] for r in rows),
                    "missed": [r["name"] for r in rows if r["trusted"]], "caught_by": dict(sorted(caught.items()))}
    false = {}
    for r in pos:
        for code in set(r["codes"]):
            false[code] = false.get(code, 0) + 1
    n_neg, n_pos = len(neg), len(pos)
    flagged, passed = sum(not r["trusted"] for r in neg), sum(r["trusted"] for r in pos)
    return {"negatives": n_neg, "negatives_flagged": flagged, "negatives_flagged_share": flagged / max(n_neg, 1),
            "positives": n_pos, "positives_passed": passed, "positives_passed_share": passed / max(n_pos, 1),
            "positive_false_alarms_by_check": dict(sorted(false.items())),
            "positives_flagged": [f"state {r['state']} view {r['view']} ({r['instrument']['name']}): "
                                  + "; ".join(r.get("reasons", [r.get("refused", "")])) for r in pos if not r["trusted"]],
            "by_category": table}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--states", type=int, default=8, help="held-out relaxed states")
    ap.add_argument("--first-state", type=int, default=0, help="index of the first state (seed 970000 + index)")
    ap.add_argument("--views", type=int, default=16, help="instrument views of each state")
    ap.add_argument("--seed", type=int, default=0, help="seed of the negative images")
    ap.add_argument("--out", default=str(Path.home() / "domainfit-data" / "negative_set"))
    ap.add_argument("--json")
    ap.add_argument("--states-only", action="store_true", help="relax (and cache) the states, nothing else")
    args = ap.parse_args(argv)
    folder = Path(args.out)
    (folder / "states").mkdir(parents=True, exist_ok=True)
    states = range(args.first_state, args.first_state + args.states)
    if args.states_only:
        for i in states:
            _, truth = relaxed_state(i, folder / "states")
            print(f"state {i}: D {truth['D'] * 1e3:.3f} mJ/m², σ {truth['sigma']:.3f}, converged {truth['converged']}",
                  flush=True)
        return 0
    neg = negative_rows(folder / f"seed{args.seed}", args.seed)
    pos = positive_rows(folder, states, args.views)
    from ._summary import write_summary

    return write_summary(summarise(neg, pos), "images", {"negatives": neg, "positives": pos}, "studies.negative_set",
                         argv, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
