"""Quickstart: one domain image in, D and σ with 90 % credible intervals out.

The same as ``domainfit estimate IMAGE --posterior``: the shipped CNN reads the image, its estimate
seeds MAP and NUTS on the emulator likelihood, and the result says whether to trust it.

Run:   python examples/quickstart.py                         (the shipped example image)
       python examples/quickstart.py scan.tif --pixel-size 15.6nm --instrument probe --out result/
Tests: python examples/quickstart.py --tiny                  (short chains)
"""

from __future__ import annotations

import argparse


def main(args):
    import domainfit as df

    config = df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if args.tiny else df.PosteriorConfig()
    result = df.estimate(args.image, pixel_size=args.pixel_size, posterior=config, key=args.seed,
                         instrument=args.instrument)
    if not result.trustworthy:  # the reasons lead the output: do not read the numbers first
        print("NOT TRUSTWORTHY:\n  " + "\n  ".join(result.reasons))
    print(result)
    post = result.report["posterior"]
    for p in ("D", "sigma"):
        q = post[p]
        print(f"{p}: {q['mean']:.4g} {q['unit'] if q['unit'] != '1' else ''}, "
              f"90 % HDI [{q['hdi_low']:.4g}, {q['hdi_high']:.4g}]")
    if args.out:
        files = result.save(args.out)  # idata.nc (ArviZ), report.json, pair.png, config.json
        print("wrote " + ", ".join(str(f) for f in files.values()))
    return result


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", nargs="?", default="example", help="image file, or 'example' (shipped)")
    p.add_argument("--pixel-size", help="e.g. 15.6nm (unless the file has it)")
    p.add_argument("--instrument", help="ideal, gaussian, mfm, probe, lorentzian, kerr (when known)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for idata.nc, report.json and plots")
    p.add_argument("--tiny", action="store_true", help="short chains, for the tests")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
