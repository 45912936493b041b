"""``domainfit compare``: Bayes factors between models of one image (evidence by tempered SMC).

Parse → one call of ``domainfit.compare`` → print (text or JSON). Each model is an emulator (e.g. one
trained on interfacial-DMI and one on bulk-DMI simulations) under the box priors of a preset or the
``--prior`` file, optionally with parameters fixed ("σ fixed" against "σ free").
"""

from __future__ import annotations

from pathlib import Path

from .. import units
from ..errors import UNTRUSTWORTHY_EXIT, DomainfitError
from ._common import check_prior_file, emit, fix_parent, image_options, image_parent, parse_fix_options
from .estimate import INSTRUMENT_CHOICES


def add_parser(sub, parents) -> None:
    p = sub.add_parser(
        "compare",
        parents=[image_parent(flatten_help=None), *parents, fix_parent(scoped=True)],
        help="compare models of one image by their evidence (Bayes factors)",
        description="Log-evidence with an error bar for each model and Bayes factors against the best. "
        "A model is an emulator file (NAME=PATH); --fix NAME:PARAM=VALUE (with its unit: mJ/m2, kA/m, nm) "
        "holds a parameter of one model, e.g. --fix fixed:sigma=0.1.",
    )
    p.add_argument("--model", action="append", metavar="NAME=EMULATOR",
                   help="a model: name and emulator .npz, or NAME=default for the shipped model's emulator "
                        "(implies --cnn default); give two or more. None: the shipped parameter sets (co-pt, "
                        "low-ms), each under its own box prior")
    p.add_argument("--preset", default="co-pt", help="box priors of this preset (co-pt or low-ms)")
    p.add_argument("--cnn", metavar="MODEL",
                   help="the CNN whose estimates are statistics of emulators fitted with 'emulator --learned' "
                   "('default' for the shipped one)")
    p.add_argument("--particles", type=int, default=1000, help="SMC particles per run (default 1000)")
    p.add_argument("--runs", type=int, default=4, help="independent SMC runs for the error bar (default 4)")
    p.add_argument("--seed", type=units.seed_arg, default=0, help="random seed")
    p.add_argument("--out", type=Path, metavar="DIR", help="write report.json, config.json and report.html (the page to "
                   "read: reasons first, the models' evidences, Bayes factors, the image and its walls) here")
    f = p.add_argument_group("films (the simulator path: docs/films.md)")
    f.add_argument("--film", action="append", metavar="FILM",
                   help="a description of the sample (a .toml file, a preset or inline, as for estimate --film); give "
                        "two or more: each is simulated and its evidence for the image integrated over its prior "
                        "(e.g. --film int.toml --film bulk.toml for the DMI kind)")
    f.add_argument("--instrument", choices=INSTRUMENT_CHOICES, help="the instrument that recorded the image (with --film)")
    f.add_argument("--lift", help="MFM lift or sensor height, e.g. 25nm (with --film and --instrument)")
    f.add_argument("--resolution", help="instrument resolution, e.g. 30nm (with --film and --instrument)")
    f.add_argument("--dmi-field", metavar="VALUE±ERR", help="the film's DMI field, e.g. 28mT±3mT (with --film)")
    f.add_argument("--measure", action="append", metavar="NAME=VALUE±ERR", default=[],
                   help="a direct measurement of D, Ms, sigma, Ku or A (with --film); repeatable")
    f.add_argument("--history", choices=("unknown", "random"),
                   help="how the film reached its domains (with --film; as for estimate --history)")
    p.set_defaults(handler=run, half_field=None, outputs={"out": "folder"})


def parse_models(specs: list[str]) -> dict[str, str]:
    """``["a=a.npz", "b=default"]`` → ``{"a": "a.npz", "b": "default"}`` (``domainfit.compare``'s models)."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise DomainfitError(f"--model {spec!r}: write it as NAME=EMULATOR.npz")
        if name in models:
            raise DomainfitError(f"model {name!r} given twice")
        models[name] = path
    if len(models) < 2:
        raise DomainfitError("compare needs at least two --model NAME=EMULATOR")
    return models


def run(args) -> int:
    from ..workflows.compare import compare

    if args.out is not None:  # before the long work: a folder that cannot be made fails now
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DomainfitError(f"cannot create --out folder {args.out}: {err.strerror or err}") from None
    if args.film:
        return run_films(args)
    given = [o for o, v in (("--instrument", args.instrument), ("--lift", args.lift), ("--resolution", args.resolution),
                            ("--dmi-field", args.dmi_field), ("--measure", args.measure), ("--history", args.history)) if v]
    if given:
        raise DomainfitError(f"{given[0]} applies to comparing films: give two or more --film")
    models = None if not args.model else parse_models(args.model)
    if models is None and args.fix:
        raise DomainfitError("--fix NAME:PARAM=VALUE needs the models named: give --model NAME=EMULATOR for each")
    fixes = {} if models is None else parse_fix_options(args.fix, models=models)
    check_prior_file(args.prior)
    comparison = compare(
        args.image, models=models, pixel_size=args.pixel_size, fix=fixes, priors=args.prior, preset=args.preset,
        cnn=args.cnn, particles=args.particles, runs=args.runs, key=args.seed, invert=args.invert, **image_options(args),
    )
    save(args, comparison)
    emit(args, comparison.table, comparison.lines)
    return 0 if comparison.trustworthy else UNTRUSTWORTHY_EXIT


def save(args, comparison) -> None:
    """With ``--out DIR``: the comparison's files (``reports.pages.write_comparison_files``)."""
    if args.out is None:
        return
    from .._version import __version__
    from ..reports.pages import write_comparison_files

    keys = ("image", "pixel_size", "invert", "model", "preset", "cnn", "film", "instrument", "lift", "resolution",
            "history", "particles", "runs", "seed")
    config = {"command": "compare", **{k: getattr(args, k, None) for k in keys}, "domainfit_version": __version__}
    write_comparison_files(args.out, comparison.table, config=config)


def run_films(args) -> int:
    """``compare IMAGE --film A --film B``: the films' evidences through the simulator path (exit 3 when the
    comparison is not to be trusted, the reasons first)."""
    from ..errors import UNTRUSTWORTHY_EXIT
    from ..workflows.compare import compare
    from .estimate import parse_measurements

    other = [o for o, v in (("--model", args.model), ("--fix", args.fix), ("--cnn", args.cnn), ("--prior", args.prior)) if v]
    if other:
        raise DomainfitError(f"{other[0]} does not apply to comparing films (--film): each film is simulated at its "
                             "own constants, their uncertainties are its prior")
    if len(args.film) < 2:
        raise DomainfitError("comparing films needs two or more: --film A --film B")
    comparison = compare(args.image, films=args.film, pixel_size=args.pixel_size, instrument=args.instrument,
                         lift=args.lift, resolution=args.resolution, measurements=parse_measurements(args),
                         particles=args.particles, runs=args.runs, key=args.seed, invert=args.invert,
                         progress=not getattr(args, "no_progress", False), history=args.history, **image_options(args))
    save(args, comparison)
    emit(args, comparison.table, comparison.lines)
    return 0 if comparison.trustworthy else UNTRUSTWORTHY_EXIT
