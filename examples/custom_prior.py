"""A prior from elsewhere: what a literature value of D (or a correlated D–σ prior) does to the posterior.

Three posteriors of the same image: the default prior (uniform over the model's training box), a
per-parameter prior D ~ N(0.6, 0.1) mJ/m² truncated to the box (``inference.Prior``), and a numpyro
function in which σ depends on D (``PriorModel.from_function``). A prior that carries information
narrows the interval and pulls the estimate towards it; the script prints both, so the effect of the
prior is seen, not hidden.

Run:   python examples/custom_prior.py [IMAGE --pixel-size 15.6nm]
Tests: python examples/custom_prior.py --tiny
"""

from __future__ import annotations

import argparse


def literature_prior():
    """D from a literature value 0.6 ± 0.1 mJ/m² (truncated to the box), σ uniform over the box."""
    import numpyro.distributions as dist

    from domainfit import inference as inf

    priors = inf.default_priors("co-pt")
    priors["D"] = inf.Prior("D", dist.TruncatedNormal(0.6e-3, 0.1e-3, low=0.1e-3, high=1.0e-3))
    return priors


def correlated_prior():
    """A numpyro function: D uniform over the box, σ centred on a line in D (smoother films with larger D)."""
    import numpyro
    import numpyro.distributions as dist

    def prior():
        D = numpyro.sample("D", dist.Uniform(0.1e-3, 1.0e-3))
        sigma = numpyro.sample("sigma", dist.TruncatedNormal(0.2 - 100 * D, 0.03, low=0.05, high=0.2))
        return {"D": D, "sigma": sigma, "Ms": 1.5e6, "Ku": 1.6e6, "A": 31e-12}

    return prior


def main(args) -> dict:
    import domainfit as df

    config = df.PosteriorConfig(chains=2, samples=100, warmup=60, predictive=0) if args.tiny else df.PosteriorConfig()
    out = {}
    for name, priors in (("default (box)", None), ("D ~ N(0.6, 0.1) mJ/m²", literature_prior()),
                         ("σ correlated with D", correlated_prior())):
        r = df.estimate(args.image, pixel_size=args.pixel_size, posterior=config, priors=priors, key=args.seed)
        post = r.report["posterior"]
        out[name] = {p: post[p] for p in ("D", "sigma")}
        print(f"{name:24s} D {post['D']['mean']:.3f} [{post['D']['hdi_low']:.3f}, {post['D']['hdi_high']:.3f}] mJ/m²"
              f"   σ {post['sigma']['mean']:.3f} [{post['sigma']['hdi_low']:.3f}, {post['sigma']['hdi_high']:.3f}]"
              f"{'' if r.trustworthy else '   NOT TRUSTWORTHY: ' + '; '.join(r.reasons)}")
    return out


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", nargs="?", default="example")
    p.add_argument("--pixel-size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="short chains, for the tests")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse())
