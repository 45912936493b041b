"""Your own film: train, calibrate and emulate a model for a film whose Ms, Ku, A and thickness you know.

The shipped model knows the co-pt film (Ms 1.5 MA/m, Ku 1.6 MJ/m³, A 31 pJ/m, 4 nm). For another film
the whole chain is rerun with its constants, and D and σ drawn from the box you expect:

  1. ``domainfit generate``   training relaxations of the film (resumable, ``--shard i/n`` per process)
  2. ``domainfit generate``   a separate calibration set (another seed: never seen in training)
  3. ``domainfit train``      the CNN, every view recorded by a random instrument
  4. ``domainfit calibrate``  its spreads on the calibration set (and the support checks)
  5. ``domainfit emulator``   the emulator of its estimates (the posterior's likelihood)
  6. ``domainfit simulate`` + ``domainfit estimate --posterior``   a check on a film of known D and σ

This script prints each command and runs it (in this process, through ``domainfit.cli.main``). At the
real size (512² cells, 10⁴ training states, 2·10⁴ CNN steps) the generation takes about a day on a
2-core CPU and the training wants a GPU (docs/cnn.md, docs/performance.md); run the printed commands
on the machine you have, in the same order. ``--tiny`` (the tests) runs the chain on 64² cells,
48 states and a small CNN in about two minutes: the numbers it gives mean nothing, the chain is what it
checks.

Run:   python examples/your_own_film.py --Ms 1100 --Ku 1.2 --A 20 --thickness 1.0 --work myfilm/
       python examples/your_own_film.py --tiny --work /tmp/film        (the tests)
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

TINY_TRAIN = ["--instruments", "none", "--steps", "120", "--batch", "16", "--lr", "3e-3", "--weight-decay", "1e-4",
              "--warmup", "10", "--pixel-size", "4nm", "--input-pixels", "64", "--widths", "8,8,16,16,16,16",
              "--fov", "0.256:0.256", "--no-augment", "--val-fraction", "0", "--checkpoint-every", "60"]


def commands(args) -> list[list[str]]:
    """The ``domainfit`` command lines of the chain (without the leading ``domainfit``)."""
    w = Path(args.work)
    film = ["--Ms", f"{args.Ms:g}:{args.Ms:g}", "--Ku", f"{args.Ku:g}:{args.Ku:g}", "--A", f"{args.A:g}:{args.A:g}",
            "--D", args.D, "--sigma", args.sigma, "--thickness", f"{args.thickness:g}", "--dmi", args.dmi,
            "--preset", "co-pt"]
    if args.tiny:
        size = ["--cells", "64", "--image-pixel-size", "4", "--tol", "1e-3", "--chunk", "8", "--no-progress"]
        train, n_train, n_cal, cells = TINY_TRAIN + ["--no-progress"], "24", "24", "64"
        emulator = ["--degree", "1", "--degree-var", "1"]
    else:
        size = ["--cells", "512", "--tol", "1e-3", "--max-steps", "6000", "--chunk", "4"]
        train, n_train, n_cal, cells = ["--steps", "20000", "--batch", "32"], "10000", "192", "512"
        emulator = []
    lo_D, hi_D = (float(v) for v in args.D.split(":"))
    lo_s, hi_s = (float(v) for v in args.sigma.split(":"))
    check = {"D": f"{(lo_D + hi_D) / 2:g}", "sigma": f"{(lo_s + hi_s) / 2:g}"}
    posterior = ["--chains", "2", "--samples", "100", "--warmup", "60", "--predictive", "0"] if args.tiny else []
    return [
        ["generate", "--out", str(w / "train"), "--count", n_train, *film, *size, "--seed", "0"],
        ["generate", "--out", str(w / "cal"), "--count", n_cal, *film, *size, "--seed", "1"],
        ["train", "--data", str(w / "train"), "--out", str(w / "model"), *train],
        ["calibrate", "--model", str(w / "model"), "--data", str(w / "cal"), "--split", "all"]
        + (["--no-progress"] if args.tiny else []),
        ["emulator", "--data", str(w / "cal"), "--model", str(w / "model"), "--learned", *emulator],
        ["simulate", "--Ms", f"{args.Ms:g}", "--Ku", f"{args.Ku:g}", "--A", f"{args.A:g}", "--thickness",
         f"{args.thickness:g}", "--dmi", args.dmi, "--D", check["D"], "--sigma", check["sigma"], "--cells", cells,
         "--tol", "1e-3", "--seed", "12345", "--out", str(w / "check.npz")],
        ["estimate", str(w / "check.npz"), "--model", str(w / "model"), "--posterior", *posterior,
         "--json", str(w / "check.json")],
    ]


def main(args) -> int:
    from domainfit.cli import main as domainfit

    Path(args.work).mkdir(parents=True, exist_ok=True)
    for argv in commands(args):
        print("$ domainfit " + " ".join(shlex.quote(a) for a in argv), flush=True)
        if args.print_only:
            continue
        code = domainfit(argv)
        if code not in (0, 3):  # 3: estimated, but flagged untrustworthy (the reasons are printed)
            raise SystemExit(f"stopped: `domainfit {argv[0]}` exited with {code}")
    return 0


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--Ms", type=float, default=1100.0, help="saturation magnetisation [kA/m]")
    p.add_argument("--Ku", type=float, default=1.2, help="uniaxial anisotropy [MJ/m³]")
    p.add_argument("--A", type=float, default=20.0, help="exchange stiffness [pJ/m]")
    p.add_argument("--thickness", type=float, default=4.0, help="film thickness [nm]")
    p.add_argument("--D", default="0.1:1.0", help="range of D to train for [mJ/m²], LO:HI")
    p.add_argument("--sigma", default="0.05:0.2", help="range of σ to train for, LO:HI")
    p.add_argument("--dmi", choices=["interfacial", "bulk"], default="interfacial")
    p.add_argument("--work", default="my_film", help="folder for the datasets, the model and the check")
    p.add_argument("--print-only", action="store_true", help="print the commands without running them")
    p.add_argument("--tiny", action="store_true", help="64² cells, 48 states, a small CNN: the tests")
    return p.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main(parse()))
