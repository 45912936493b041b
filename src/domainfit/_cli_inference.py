"""``domainfit compare``: Bayes factors between models of one image (evidence by tempered SMC).

A thin shell over ``inference.compare_models``; each model is an emulator (e.g. one trained on
interfacial-DMI and one on bulk-DMI simulations) with the default box priors of a preset, optionally
with parameters fixed ("σ fixed" against "σ free").
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from . import units
from ._files import atomic_write
from .errors import DomainfitError


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare models of one image by their evidence (Bayes factors)",
        description="Log-evidence with an error bar for each model and Bayes factors against the best. "
        "A model is an emulator file (NAME=PATH); --fix NAME:PARAM=VALUE (user units: mJ/m^2, kA/m, nm) "
        "holds a parameter of one model, e.g. --fix fixed:sigma=0.1.",
    )
    p.add_argument("image", type=Path, help="image file (PNG, TIFF, .npy/.npz)")
    p.add_argument("--pixel-size", help="pixel size with its unit, e.g. 15.6nm; needed unless the file has it")
    p.add_argument("--model", action="append", required=True, metavar="NAME=EMULATOR",
                   help="a model: name and emulator .npz, or NAME=default for the shipped model's emulator "
                        "(implies --cnn default); give two or more")
    p.add_argument("--fix", action="append", default=[], metavar="NAME:PARAM=VALUE",
                   help="hold PARAM of model NAME at VALUE (user units)")
    p.add_argument("--preset", default="co-pt", help="box priors of this preset (co-pt or low-ms)")
    p.add_argument("--cnn", metavar="MODEL",
                   help="the CNN whose estimates are statistics of emulators fitted with 'emulator --learned' "
                   "('default' for the shipped one)")
    p.add_argument("--particles", type=int, default=1000, help="SMC particles per run (default 1000)")
    p.add_argument("--runs", type=int, default=4, help="independent SMC runs for the error bar (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--invert", action="store_true", help="invert the contrast (e.g. MFM phase)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE ('-' for stdout)")
    p.set_defaults(handler=_compare)


def _parse_models(specs: list[str]) -> dict[str, Path]:
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise DomainfitError(f"--model {spec!r}: write it as NAME=EMULATOR.npz")
        if name in models:
            raise DomainfitError(f"model {name!r} given twice")
        if path == "default":
            from .nn import emulator_path, load_default

            models[name] = emulator_path(load_default().path)
        else:
            models[name] = Path(path)
    if len(models) < 2:
        raise DomainfitError("compare needs at least two --model NAME=EMULATOR")
    return models


def _parse_fixes(specs: list[str], models) -> dict[str, dict[str, float]]:
    from .inference.priors import USER_UNITS

    fixes: dict[str, dict[str, float]] = {name: {} for name in models}
    for spec in specs:
        name, sep, rest = spec.partition(":")
        param, sep2, value = rest.partition("=")
        if not (sep and sep2 and name and param and value):
            raise DomainfitError(f"--fix {spec!r}: write it as MODEL:PARAM=VALUE, e.g. fixed:sigma=0.1")
        if name not in models:
            raise DomainfitError(f"--fix {spec!r}: no model named {name!r} (models: {', '.join(models)})")
        try:
            v = float(value)
        except ValueError:
            raise DomainfitError(f"--fix {spec!r}: {value!r} is not a number") from None
        fixes[name][param] = v * USER_UNITS.get(param, ("", 1.0))[1]
    return fixes


def _check_fixes(name: str, emulator, fixes: dict[str, float]) -> list[str]:
    """Refuse a --fix of a parameter the model's emulator does not take (a typo, or a constant of its
    training set at another value: it would change nothing and the model would equal the free one);
    return notices for values outside the emulator's training box."""
    user = units.format_user
    box = {n: (float(lo), float(hi)) for n, lo, hi in zip(emulator.names, emulator.lo, emulator.hi)}
    constants = dict(emulator.error_report.get("constants", {}))
    notices = []
    for param, value in fixes.items():
        if param in box:
            lo, hi = box[param]
            if not lo <= value <= hi:
                notices.append(f"{name}: {param} fixed at {user(param, value)}, outside its emulator's training box "
                               f"[{user(param, lo)}, {user(param, hi)}]: the emulator extrapolates there")
        elif not (param in constants and math.isclose(value, constants[param], rel_tol=1e-6)):
            held = f"; its training set held {param} at {user(param, constants[param])}" if param in constants else ""
            raise DomainfitError(f"--fix {name}:{param}: {param!r} is not an input of model {name!r} (its emulator "
                                 f"takes {', '.join(box)}{held})")
    return notices


def _compare(args) -> int:
    t0 = time.perf_counter()
    import jax

    from . import imaging, inference
    from .inference.learned import check_same_model, learned_names, summary_with_cnn
    from .stats import summary_vector

    models = _parse_models(args.model)
    fixes = _parse_fixes(args.fix, models)
    if args.cnn is None and any(spec.partition("=")[2] == "default" for spec in args.model):
        args.cnn = "default"  # the shipped emulator's statistics are the shipped CNN's estimates
    pixel_size = imaging.parse_pixel_size(args.pixel_size)
    loaded = None
    if args.cnn is not None:
        from ._cli_ml import _load

        loaded = _load(args.cnn)
    # a CNN trained on instrument views reads images with their background removed before clipping
    flatten = None if loaded is None else loaded.flatten
    image = imaging.load(args.image, pixel_size=pixel_size, invert=args.invert, flatten=flatten)
    data = jax.numpy.asarray(image.data)
    area = image.data.shape[0] * image.data.shape[1] * image.pixel_size**2
    emulators = {name: inference.Emulator.load(path) for name, path in models.items()}
    notices = list(image.notes) + [n for name, emulator in emulators.items() for n in _check_fixes(name, emulator, fixes[name])]
    cnn_mean = None
    if loaded is not None:
        from .nn import estimate

        cnn_mean = estimate(loaded, image.data, image.pixel_size).mean
    problems = {}
    for name, emulator in emulators.items():
        if learned_names(emulator.stat_names):
            if cnn_mean is None:
                raise DomainfitError(f"model {name!r}: its emulator's statistics include a CNN's estimates; name "
                                     "that CNN with --cnn MODEL")
            check_same_model(emulator, loaded)
            s_obs = summary_with_cnn(cnn_mean, emulator.stat_names)(data, image.pixel_size)
        else:
            s_obs = summary_vector(data, image.pixel_size)
        if s_obs.shape[0] != len(emulator.stat_names):
            raise DomainfitError(f"model {name!r}: the image gives {s_obs.shape[0]} statistics, its emulator "
                                 f"expects {len(emulator.stat_names)}")
        priors = inference.default_priors(args.preset)
        for param, value in fixes[name].items():
            priors[param] = inference.Prior.fix(param, value)
        likelihood = inference.EmulatorLikelihood(emulator, s_obs, area_ratio=emulator.area / area)
        problems[name] = inference.Problem(priors, likelihood, s_obs=s_obs, stat_names=emulator.stat_names)
        notices += [f"{name}: {m}" for m in emulator.check_observation(s_obs)]
    table = inference.compare_models(problems, key=jax.random.key(args.seed), n_particles=args.particles,
                                     n_runs=args.runs)
    table["warnings"] = notices
    table["image"] = {"path": str(args.image), "shape": list(image.data.shape), "pixel_size_nm": image.pixel_size * 1e9}
    table["wall_time_s"] = round(time.perf_counter() - t0, 3)
    text = json.dumps(table, indent=2)
    if args.json == "-":
        print(text)
        return 0
    for name, ev in table["evidence"].items():
        mark = "  (best)" if name == table["best"] else ""
        print(f"{name:>16}: log Z = {ev['log_evidence']:.2f} ± {ev['error']:.2f}{mark}")
    for name, bf in table["bayes_factors"].items():
        print(f"{table['best']} vs {name}: {bf['interpretation']}")
    for m in notices:
        print(f"warning: {m}")
    if args.json:
        atomic_write(args.json, text)
    return 0


def add_commands(sub) -> None:
    """Register ``compare`` on an argparse subparsers object."""
    _add_compare(sub)
