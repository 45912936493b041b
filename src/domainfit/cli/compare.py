"""``domainfit compare``: Bayes factors between models of one image (evidence by tempered SMC).

Parse → one call of ``domainfit.compare`` → print (text or JSON). Each model is an emulator (e.g. one
trained on interfacial-DMI and one on bulk-DMI simulations) under the box priors of a preset or the
``--prior`` file, optionally with parameters fixed ("σ fixed" against "σ free").
"""

from __future__ import annotations

from ..errors import DomainfitError
from ._common import check_prior_file, emit, fix_parent, image_parent, parse_fix_options


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
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(handler=run)


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

    models = None if not args.model else parse_models(args.model)
    if models is None and args.fix:
        raise DomainfitError("--fix NAME:PARAM=VALUE needs the models named: give --model NAME=EMULATOR for each")
    fixes = {} if models is None else parse_fix_options(args.fix, models=models)
    check_prior_file(args.prior)
    comparison = compare(
        args.image, models=models, pixel_size=args.pixel_size, fix=fixes, priors=args.prior, preset=args.preset,
        cnn=args.cnn, particles=args.particles, runs=args.runs, key=args.seed, invert=args.invert,
    )
    emit(args, comparison.table, comparison.lines)
    return 0
