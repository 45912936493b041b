"""``domainfit estimate``: D, Ms and σ from one domain image, optionally with their posterior.

Parse → one call of ``domainfit.estimate`` → print (text or JSON) and, with ``--out``, save its files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import units
from ..families import USER_FAMILIES
from ..errors import UNTRUSTWORTHY_EXIT, DomainfitError
from ..tasks import cluster_from_options, cluster_parent
from ._common import (
    check_prior_file,
    emit,
    enable_compilation_cache,
    fix_parent,
    image_options,
    image_parent,
    parse_fix_options,
    progress_parent,
)

INSTRUMENT_CHOICES = USER_FAMILIES
"""Instrument families a user can name (``families.USER_FAMILIES``: no numerical import here)."""

_POSTERIOR_ONLY = ("hdi", "chains", "samples", "warmup", "emulator", "predictive", "prior", "dmi_field", "half_field")


def add_parser(sub, parents) -> None:
    image = image_parent(flatten_help="subtract a polynomial background of this degree first (default: the model's, "
                         "2 for models trained on instrument views; it removes one itself too)", several=True)  # fmt: skip
    p = sub.add_parser(
        "estimate",
        parents=[image, *parents, progress_parent("no progress bars on stderr"), fix_parent(scoped=False),
                 cluster_parent("the relaxations of the simulator path (--film with --posterior)")],
        help="estimate D, Ms and σ from one domain image (CNN)",
        description="Estimate D [mJ/m²], Ms [kA/m] and σ (dimensionless) with their spread from one image "
        "(PNG, TIFF, .npy/.npz) of any size: it is resampled to the model's pixel size and tiled. "
        "With --posterior the CNN estimate seeds a Bayesian refinement (MAP, then NUTS on the emulator "
        "likelihood) that reports credible intervals, diagnostics and a posterior-predictive check.",
    )
    p.add_argument("--model", default="default", help="model (.eqx, .json or training folder; default: the shipped one)")
    p.add_argument("--single-view", action="store_true",
                   help="read each tile once instead of in its 16 symmetric versions (rotations, reflections, sign)")
    p.add_argument("--instrument", choices=INSTRUMENT_CHOICES,
                   help="the kind of instrument that recorded the image, when known: its own spread calibration "
                        "is used (docs/imaging.md: ideal/gaussian = XMCD, X-ray, PEEM, Kerr; mfm; probe = stray-field "
                        "sensor; lorentzian, kerr)")
    p.add_argument("--lift", help="MFM lift or sensor height above the film, e.g. 25nm (checked against training; with "
                   "--instrument and --resolution the spreads follow the calibration at these settings)")
    p.add_argument("--resolution", help="instrument resolution (point-spread FWHM: tip or sensor size), e.g. 30nm "
                   "(checked against training; used by the spread calibration as --lift is)")
    p.add_argument("--sets", action="store_true",
                   help="first weigh the shipped parameter sets (co-pt, low-ms) on the image, as `domainfit compare "
                        "IMAGE` does: name the set that explains it with posterior probabilities, say when they are "
                        "not distinguishable, and with --posterior refine under the winning set's emulator and box")
    p.add_argument("--film", metavar="FILM",
                   help="the sample's constants: a .toml file, a preset (co-pt, low-ms) or inline, e.g. "
                        "\"Ms=1100kA/m±3%%,Ku=0.95MJ/m3±5%%,A=16pJ/m±15%%,thickness=1nm,dmi=interfacial\" (± an "
                        "uncertainty, absolute or in %%; docs/films.md). Without it the model's film (co-pt) is assumed")
    p.add_argument("--method", choices=("auto", "cnn", "period", "simulator"), default="auto",
                   help="auto (default): the CNN and its emulator for the film they were trained for, the period "
                        "law for any other (with --posterior the simulator); period: D from the domain period by "
                        "the film's stripe law, with the constants' uncertainties propagated and an error budget; "
                        "simulator: the simulator posterior (--posterior) for any film, the model's own included")
    p.add_argument("--history", choices=("unknown", "random"),
                   help="with --film and --posterior (the simulator path): how the film reached its domains — unknown "
                        "(default: the shift between mazes relaxed from random states and field-cycled ones is a "
                        "model error) or random (quenched from a random state)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write report.json and config.json here; with --posterior also idata.nc, pair.png, predictive.png")
    g = p.add_argument_group("posterior (Bayesian refinement with the model's emulator; see docs/inference.md; "
                             "--fix and --prior apply to it)")
    g.add_argument("--posterior", action="store_true",
                   help="refine the CNN estimate: MAP then NUTS on the emulator likelihood, with intervals")
    g.add_argument("--hdi", type=float, help="probability of the highest-density intervals (default 0.9)")
    g.add_argument("--chains", type=int, help="NUTS chains (default 4)")
    g.add_argument("--samples", type=int, help="NUTS draws per chain after warm-up (default 1000)")
    g.add_argument("--warmup", type=int, help="NUTS warm-up steps per chain (default 500)")
    g.add_argument("--seed", type=units.seed_arg, default=0, help="random seed of chains and predictive draws (default 0)")
    g.add_argument("--emulator", type=Path, help="emulator .npz (default: NAME.emulator.npz beside the model)")
    g.add_argument("--predictive", type=int, help="posterior-predictive draws for the check (0 skips; default 200)")
    g.add_argument("--dmi-field", metavar="VALUE±ERR",
                   help="the film's DMI field μ0H_DMI from an in-plane-field measurement (depinning-field shift or "
                        "bubble expansion), e.g. 28mT±3mT; joins the likelihood as D/(Ms Δ) with a 7.5 %% model error "
                        "on Δ (change it: 28mT±3mT,model=5%%). It separates D from σ where images cannot "
                        "(docs/observations.md)")
    g.add_argument("--half-field", metavar="VALUE±ERR",
                   help="μ0H½ of the film: the field where the initial magnetisation curve of the demagnetised film "
                        "(virgin curve of a polar Kerr, Hall or VSM loop) reaches half the saturation, e.g. 48mT±2mT; "
                        "joins the likelihood through the fitted H½(D, σ) model of the co-pt set, whose film-to-film "
                        "scatter is added. With --dmi-field it narrows σ (docs/observations.md)")
    g.add_argument("--measure", action="append", metavar="NAME=VALUE±ERR", default=[],
                   help="a direct measurement of D, Ms, sigma, Ku or A, e.g. D=0.5±0.05mJ/m2 (BLS) or Ms=1500±50kA/m "
                        "(magnetometer); repeatable")
    p.set_defaults(handler=run, outputs={"out": "folder"})


def posterior_config(args):
    """The ``PosteriorConfig`` of the options (checked), or None without ``--posterior``."""
    from ..workflows.estimate import PosteriorConfig

    if not args.posterior:
        given = [n for n in _POSTERIOR_ONLY if getattr(args, n, None) is not None] + (["fix"] if args.fix else [])
        given += ["measure"] if args.measure else []
        if given:
            raise DomainfitError(f"--{given[0].replace('_', '-')} only applies with --posterior")
        return None
    defaults = PosteriorConfig()
    config = PosteriorConfig(**{field: getattr(args, opt) if getattr(args, opt) is not None else getattr(defaults, field)
                                for field, opt in (("hdi_prob", "hdi"), ("chains", "chains"), ("samples", "samples"),
                                                   ("warmup", "warmup"), ("predictive", "predictive"),
                                                   ("emulator", "emulator"))})
    config.check()
    check_prior_file(args.prior)
    return config


def parse_measurements(args) -> list:
    """``--dmi-field``, ``--half-field`` and ``--measure`` as ``observations.Measurement`` values (checked)."""
    if args.dmi_field is None and args.half_field is None and not args.measure:
        return []
    from ..observations.measurements import KINDS, parse_measurement

    out = [parse_measurement(kind, getattr(args, kind)) for kind in ("dmi_field", "half_field")
           if getattr(args, kind) is not None]
    for spec in args.measure:
        name, sep, text = spec.partition("=")
        if not sep or name.strip() not in KINDS or name.strip() in ("dmi_field", "half_field"):
            raise DomainfitError(f"--measure {spec!r}: write NAME=VALUE±ERR with NAME one of D, Ms, sigma, Ku, A, "
                                 "e.g. --measure D=0.5±0.05mJ/m2 (the DMI field and H½ have their own options, --dmi-field, "
                                 "--half-field)")
        out.append(parse_measurement(name.strip(), text))
    return out


def run(args) -> int:
    enable_compilation_cache()
    from ..workflows.estimate import estimate

    config = posterior_config(args)  # every option is checked before any work
    cluster = cluster_from_options(args.workers, args.scheduler)  # with --film --posterior: the relaxations' cluster
    measurements = parse_measurements(args)
    fixes = parse_fix_options(args.fix)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DomainfitError(f"cannot create --out folder {args.out}: {err.strerror or err}") from None
    result = estimate(
        args.image[0] if len(args.image) == 1 else args.image, measurements=measurements, pixel_size=args.pixel_size, model=args.model, posterior=config, priors=args.prior, fix=fixes,
        key=args.seed, invert=args.invert, flatten=args.flatten, instrument=args.instrument, lift=args.lift,
        resolution=args.resolution, single_view=args.single_view, progress=not args.no_progress, sets=args.sets,
        film=args.film, method=args.method, history=args.history, cluster=cluster, **image_options(args),
    )
    if args.out is not None:
        result.save(args.out)

    def text() -> None:
        print("\n".join(result.lines()))
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)

    emit(args, result.report, text)
    return 0 if result.trustworthy else UNTRUSTWORTHY_EXIT
