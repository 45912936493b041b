"""``domainfit estimate --posterior`` and ``domainfit emulator``: the Bayesian refinement from the CLI.

A thin shell over ``inference.posterior_from_image`` (CNN estimate → MAP → NUTS → posterior-predictive
check, emulator likelihood) and ``inference.emulator_from_dataset``. User units are converted here and in
``units`` only. A model's emulator lives beside it, ``NAME.eqx`` → ``NAME.emulator.npz``
(``nn.emulator_path``), or, for a training set mixing prior boxes, one per box as
``NAME.emulator-COMPONENT.npz``; ``domainfit emulator --model NAME`` puts them there and ``estimate``
uses the one whose box the CNN estimate fits (``choose_emulator``).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import sys
import time
from pathlib import Path

from . import units
from ._files import atomic_write
from .errors import DomainfitError

PRIOR_FUNCTION = "prior"
"""Name of the function a ``--prior FILE.py`` must define."""

CNN_TARGETS = ("D", "Ms", "sigma")
_POSTERIOR_ONLY = ("hdi", "chains", "samples", "warmup", "emulator", "predictive", "prior", "out")


def add_posterior_arguments(p) -> None:
    """The ``--posterior`` options of ``estimate`` (defaults are applied in ``resolve_options``)."""
    g = p.add_argument_group("posterior (Bayesian refinement with the model's emulator; see docs/inference.md)")
    g.add_argument("--posterior", action="store_true",
                   help="refine the CNN estimate: MAP then NUTS on the emulator likelihood, with intervals")
    g.add_argument("--hdi", type=float, help="probability of the highest-density intervals (default 0.9)")
    g.add_argument("--chains", type=int, help="NUTS chains (default 4)")
    g.add_argument("--samples", type=int, help="NUTS draws per chain after warm-up (default 1000)")
    g.add_argument("--warmup", type=int, help="NUTS warm-up steps per chain (default 500)")
    g.add_argument("--seed", type=int, default=0, help="random seed of chains and predictive draws (default 0)")
    g.add_argument("--emulator", type=Path, help="emulator .npz (default: NAME.emulator.npz beside the model)")
    g.add_argument("--predictive", type=int, help="posterior-predictive draws for the check (0 skips; default 200)")
    g.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="hold a parameter at a value with its unit, e.g. --fix Ku=1.6MJ/m3 --fix sigma=0.1")
    g.add_argument("--prior", type=Path, metavar="FILE.py",
                   help=f"Python file defining {PRIOR_FUNCTION}() or {PRIOR_FUNCTION}(box) that returns Prior specs "
                   "(dict or list), a PriorModel or a numpyro prior function")
    g.add_argument("--out", type=Path, metavar="DIR",
                   help="write idata.nc, report.json, pair.png, predictive.png and config.json here")
    g.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def resolve_options(args) -> dict:
    """Check the posterior options before any work and fill in defaults; returns them as a dict."""
    if not args.posterior:
        given = [n for n in _POSTERIOR_ONLY if getattr(args, n, None) is not None] + (["fix"] if args.fix else [])
        if given:
            raise DomainfitError(f"--{given[0]} only applies with --posterior")
        return {}
    from .inference import check_budget

    opts = dict(hdi=0.9 if args.hdi is None else args.hdi, chains=4 if args.chains is None else args.chains,
                samples=1000 if args.samples is None else args.samples,
                warmup=500 if args.warmup is None else args.warmup,
                predictive=200 if args.predictive is None else args.predictive)
    if not 0 < opts["hdi"] < 1:
        raise DomainfitError(f"--hdi {opts['hdi']}: give a probability strictly between 0 and 1, e.g. 0.9")
    if opts["predictive"] < 0:
        raise DomainfitError(f"--predictive {opts['predictive']}: give 0 (skip the check) or more draws")
    if opts["samples"] < 1 or opts["chains"] < 1:
        raise DomainfitError(f"--chains {opts['chains']} --samples {opts['samples']}: need at least one chain "
                             "and one sample per chain (4 × 1000 recommended)")
    check_budget(opts["chains"], opts["warmup"], opts["samples"])
    opts["fix"] = parse_fixes(args.fix)
    if args.prior is not None and not args.prior.is_file():
        raise DomainfitError(f"--prior {args.prior}: no such file")
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DomainfitError(f"cannot create --out folder {args.out}: {err.strerror or err}") from None
    return opts


def parse_fixes(specs: list[str]) -> dict[str, float]:
    """``["Ku=1.6MJ/m3", "sigma=0.1"]`` → ``{"Ku": 1.6e6, "sigma": 0.1}`` (SI, through ``units``)."""
    fixes: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise DomainfitError(f"--fix {spec!r}: write it as NAME=VALUE with a unit, e.g. --fix Ku=1.6MJ/m3")
        if name in fixes:
            raise DomainfitError(f"--fix {name} given twice")
        fixes[name] = units.parse_quantity(name, value)
    return fixes


def find_emulators(model_path, explicit: Path | None) -> list:
    """[(emulator, path)]: the one given by ``--emulator``, or those beside the model (one, or one per
    prior component of a mixed training set); a clear error if none."""
    from .inference import Emulator
    from .nn import emulator_path, emulator_paths

    if explicit is not None:
        if not Path(explicit).is_file():
            raise DomainfitError(f"--emulator {explicit}: no such file")
        return [(Emulator.load(explicit), Path(explicit))]
    paths = emulator_paths(model_path)
    if not paths:
        raise DomainfitError(f"no emulator for model {model_path} (looked for {emulator_path(model_path)}): run "
                             f"`domainfit emulator --data DATASET --model {model_path}` or pass --emulator FILE")
    return [(Emulator.load(p), p) for p in paths]


def choose_emulator(cnn_mean: dict[str, float], cnn_sd: dict[str, float], candidates: list) -> int:
    """Index of the candidate whose training box the CNN estimate fits best.

    The distance of the estimate to a box is Σ over the box's parameters (inputs and held constants)
    of the CNN-sd-normalised distance outside the range, squared: 0 inside. One candidate: 0.
    """
    if len(candidates) == 1:
        return 0
    scores = []
    for emu in candidates:
        ranges = {n: (float(lo), float(hi)) for n, lo, hi in zip(emu.names, emu.lo, emu.hi)}
        ranges.update({n: (float(v), float(v)) for n, v in emu.error_report.get("constants", {}).items()})
        d2 = 0.0
        for name, (lo, hi) in ranges.items():
            if name not in cnn_mean:
                continue
            x, sd = float(cnn_mean[name]), max(float(cnn_sd.get(name, 0.0)), 1e-12 * max(abs(lo), abs(hi), 1e-30))
            d2 += (max(lo - x, 0.0, x - hi) / sd) ** 2
        scores.append(d2)
    return int(min(range(len(scores)), key=scores.__getitem__))


def _load_prior_file(path: Path, box: dict):
    """Run ``path`` as a module and call its ``prior`` function (with ``box`` if it takes an argument)."""
    spec = importlib.util.spec_from_file_location(f"domainfit_user_prior_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None:
        raise DomainfitError(f"--prior {path}: cannot load it as a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's file: report what broke, in one line
        raise DomainfitError(f"--prior {path} failed to run: {type(err).__name__}: {err}") from None
    fn = getattr(module, PRIOR_FUNCTION, None)
    if not callable(fn):
        raise DomainfitError(f"--prior {path} defines no function {PRIOR_FUNCTION}(): add "
                             f"`def {PRIOR_FUNCTION}(box): return {{'D': Prior.uniform('D', 0.3e-3, 0.6e-3)}}`")
    try:
        takes_box = len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        takes_box = False
    if not takes_box:
        # ``prior()`` with no argument may itself be a numpyro prior function (calls numpyro.sample):
        # then it is the prior, not a builder of one.
        try:
            from numpyro import handlers

            trace = handlers.trace(handlers.seed(fn, 0)).get_trace()
        except Exception:
            trace = {}
        if any(site["type"] == "sample" for site in trace.values()):
            return fn
    try:
        return fn(box) if takes_box else fn()
    except DomainfitError:
        raise
    except Exception as err:
        raise DomainfitError(f"--prior {path}: {PRIOR_FUNCTION}() failed: {type(err).__name__}: {err}") from None


def build_prior(emulator, fixes: dict[str, float], prior_file: Path | None):
    """The prior of the posterior run and the names whose prior is the training box (the seed is
    moved into the box for those only).

    Default: uniform over the emulator's training box for each of its inputs; parameters the training
    set held constant are fixed at that value. ``fixes`` (SI) replace single priors; a ``--prior`` file
    replaces the priors it names (Prior specs) or the whole prior (PriorModel or numpyro function).
    """
    from .inference import Prior, PriorModel

    box = {n: (float(lo), float(hi)) for n, lo, hi in zip(emulator.names, emulator.lo, emulator.hi)}
    constants = dict(emulator.error_report.get("constants", {}))
    priors = {n: Prior.uniform(n, lo, hi) for n, (lo, hi) in box.items()}
    priors.update({n: Prior.fix(n, v) for n, v in constants.items()})
    boxed = set(box)
    if prior_file is not None:
        user = _load_prior_file(prior_file, dict(box))
        if isinstance(user, Prior):
            user = [user]
        if isinstance(user, (list, tuple)) and all(isinstance(p, Prior) for p in user):
            user = {p.name: p for p in user}
        if isinstance(user, PriorModel) or (callable(user) and not isinstance(user, dict)):
            if fixes:
                raise DomainfitError(f"--fix cannot change the prior function of {prior_file}: fix parameters "
                                     "inside it instead")
            model = user if isinstance(user, PriorModel) else PriorModel.from_function(user)
            missing = [n for n in emulator.names if n not in model.parameters]
            if missing:
                raise DomainfitError(f"the prior of {prior_file} lacks {', '.join(missing)}, an input of the "
                                     "emulator: give it a prior or a fixed value")
            return model, set()
        if not (isinstance(user, dict) and all(isinstance(p, Prior) for p in user.values())):
            raise DomainfitError(f"{PRIOR_FUNCTION}() of {prior_file} returned {type(user).__name__}: return a dict "
                                 "or list of inference.Prior, a PriorModel, or a function calling numpyro.sample")
        priors.update(user)
        boxed -= set(user)
    for name, value in fixes.items():
        if name not in box:
            if name in constants and math.isclose(value, constants[name], rel_tol=1e-6):
                continue
            held = f" (its training set held {name} at {constants[name]:.4g} SI)" if name in constants else ""
            raise DomainfitError(f"cannot fix {name}: the emulator's inputs are {', '.join(box)}{held}")
        priors[name] = Prior.fix(name, value)
        boxed.discard(name)
    if all(p.fixed for p in priors.values()):
        raise DomainfitError("every parameter is fixed: nothing left to infer (drop a --fix)")
    return PriorModel(priors), boxed


def seed_from_cnn(cnn_mean: dict[str, float], box: dict[str, tuple[float, float]], boxed: set[str]):
    """The MAP start (SI): the CNN estimate, moved just inside the training box for box-prior parameters
    (the CNN may stray slightly outside the box it was trained on). Returns (seed, notices)."""
    seed, notices = dict(cnn_mean), []
    for name in boxed:
        if name not in seed or name not in box:
            continue
        lo, hi = box[name]
        inside = min(max(seed[name], lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
        if not lo <= seed[name] <= hi:
            notices.append(f"the CNN estimate of {name} ({_user(name, seed[name])}) lies outside the emulator's "
                           f"training box [{_user(name, lo)}, {_user(name, hi)}]: the MAP started from the "
                           "nearest point inside it")
        seed[name] = inside
    return seed, notices


_user = units.format_user


def posterior_block(summary: dict, prior, cnn_json: dict, hdi: float) -> tuple[dict, dict]:
    """``posterior.{name}`` in user units (sampled and fixed parameters; fixed ones have zero width)
    and ``posterior_sd_over_cnn_sd`` per CNN target."""
    from .inference.priors import USER_UNITS

    post = {}
    for name, p in summary["parameters"].items():
        post[name] = dict(p, fixed=False)
    import jax.numpy as jnp

    theta0 = prior.theta(jnp.zeros(prior.dim))
    for name in prior.parameters:
        if name in post or name in prior.names:
            continue
        unit, factor = USER_UNITS.get(name, (prior.units.get(name, "?"), 1.0))
        v = float(theta0[name]) / factor
        post[name] = dict(unit=unit, mean=v, sd=0.0, median=v, hdi_low=v, hdi_high=v, hdi_prob=hdi, r_hat=None,
                          ess_bulk=None, ess_tail=None, fixed=True)
    ratio = {}
    for name, c in cnn_json.get("parameters", {}).items():
        p = post.get(name)
        ratio[name] = None if p is None or not c.get("sd") else p["sd"] / c["sd"]
    return post, ratio


def prepare_posterior(args, opts: dict, loaded) -> dict:
    """Find the model's emulators and build their priors before any estimate runs (so errors come first)."""
    from .inference.learned import check_same_model

    candidates = []
    for emulator, path in find_emulators(loaded.path, args.emulator):
        check_same_model(emulator, loaded)
        prior, boxed = build_prior(emulator, opts["fix"], args.prior)
        candidates.append(dict(emulator=emulator, emulator_path=path, prior_model=prior, boxed=boxed))
    return dict(opts, candidates=candidates)


def run_posterior(args, opts: dict, loaded, image, cnn, report: dict, bar) -> list[str]:
    """The posterior part of ``estimate``: adds its blocks to ``report`` and writes the files of ``--out``.

    ``opts`` comes from ``prepare_posterior``. Returns the text lines to print. ``cnn`` is the
    ``nn.Estimate``; ``image`` the loaded image.
    """
    import jax

    from . import __version__, inference, plots
    from .inference.learned import summary_with_cnn
    from .inference.priors import USER_UNITS

    candidates = opts["candidates"]
    chosen = candidates[choose_emulator(cnn.mean, cnn.sd, [c["emulator"] for c in candidates])]
    emulator, emu_path = chosen["emulator"], chosen["emulator_path"]
    prior, boxed = chosen["prior_model"], chosen["boxed"]
    box = {n: (float(lo), float(hi)) for n, lo, hi in zip(emulator.names, emulator.lo, emulator.hi)}
    seed, notices = seed_from_cnn(cnn.mean, box, boxed)
    for name, value in opts["fix"].items():
        if name not in box:  # a constant of the training set, fixed at its own value (build_prior checked it)
            continue
        lo, hi = box[name]
        if not lo <= value <= hi:
            notices.append(f"{name} is fixed at {_user(name, value)}, outside the emulator's training box "
                           f"[{_user(name, lo)}, {_user(name, hi)}]: the emulator extrapolates there")
    if not math.isfinite(emulator.surrogate_error):
        notices.append(f"the emulator's cross-validated error is unknown ({emu_path} has no finite "
                       "surrogate_error): the intervals do not include the emulator's own error")
    prior.check_support({n: seed[n] for n in prior.names if n in seed})
    bar("MAP + NUTS + predictive check (emulator likelihood)")
    result = inference.posterior_from_image(
        image.data, image.pixel_size, emulator=emulator, seed=seed, key=jax.random.key(args.seed), priors=prior,
        num_chains=opts["chains"], num_warmup=opts["warmup"], num_samples=opts["samples"], hdi_prob=opts["hdi"],
        progress=not args.no_progress, predictive_draws=opts["predictive"], extra_warnings=notices,
        emit_warnings=False, summary_fn=summary_with_cnn(cnn.mean, emulator.stat_names),
    )
    s = result.summary
    post, ratio = posterior_block(s, prior, report, opts["hdi"])
    report["posterior"] = post
    report["posterior_sd_over_cnn_sd"] = ratio
    report["diagnostics"] = s["diagnostics"]
    report["warnings"] = list(cnn.warnings) + s["warnings"]
    report["posterior_reasons"] = s["untrustworthy"]
    report["posterior_predictive"] = s["posterior_predictive"]
    report["map"] = {n: dict(unit=USER_UNITS.get(n, ("SI", 1.0))[0], value=float(v) / USER_UNITS.get(n, ("SI", 1.0))[1])
                     for n, v in s["map"].items()}
    report["observation"] = s["observation"]
    report["prior"] = prior.describe()
    report["emulator"] = {"path": str(emu_path), "component": emulator.error_report.get("component"),
                          "candidates": [str(c["emulator_path"]) for c in candidates], "inputs": list(emulator.names),
                          "surrogate_error": emulator.surrogate_error, "cross_validation": emulator.error_report}
    config = {
        "command": "estimate --posterior", "image": str(args.image), "pixel_size_m": image.pixel_size,
        "invert": args.invert, "flatten": args.flatten, "model": str(loaded.path), "emulator": str(emu_path),
        "chains": opts["chains"], "warmup": opts["warmup"], "samples": opts["samples"], "hdi_prob": opts["hdi"],
        "seed": args.seed, "predictive_draws": opts["predictive"], "fixed_SI": opts["fix"],
        "prior_file": None if args.prior is None else str(args.prior.resolve()), "prior": prior.describe(),
        "map_start_SI": {n: float(seed[n]) for n in prior.names if n in seed}, "domainfit_version": __version__,
    }
    report["config"] = config
    if args.out is not None:
        out = args.out
        files = {"netcdf": out / "idata.nc", "json": out / "report.json", "pair": out / "pair.png",
                 "config": out / "config.json"}
        inference.save_netcdf(result.idata, files["netcdf"])
        plots.save_pair_plot(result.idata, files["pair"], hdi_prob=opts["hdi"])
        if result.check is not None:
            files["predictive"] = plots.save_predictive_plot(result.check, out / "predictive.png")
        report["files"] = {k: str(v) for k, v in files.items()}
        atomic_write(files["config"], json.dumps(config, indent=2))
        atomic_write(files["json"], json.dumps(report, indent=2, default=_plain))
    names = {"D": "D", "Ms": "Ms", "sigma": "σ"}
    lines = [f"posterior ({opts['hdi']:.0%} HDI; {opts['chains']} chains × {opts['samples']} draws, "
             f"{s['diagnostics']['wall_time_s']:.1f} s):"]
    for name, p in post.items():
        unit = "" if p["unit"] == "1" else " " + p["unit"].replace("^2", "²").replace("^3", "³")
        if p["fixed"]:
            lines.append(f"{names.get(name, name):>5} = {p['mean']:.4g}{unit} (fixed)")
            continue
        r = ratio.get(name)
        rtext = f", sd/CNN sd {r:.2f}" if r is not None else ""
        lines.append(f"{names.get(name, name):>5} = {p['median']:.4g} [{p['hdi_low']:.4g}, {p['hdi_high']:.4g}]{unit}"
                     f" (mean {p['mean']:.4g} ± {p['sd']:.2g}{rtext})")
    d = s["diagnostics"]
    rhat = "n/a" if d["r_hat_max"] is None else f"{d['r_hat_max']:.3f}"
    surr = "n/a" if d["surrogate_error"] is None else f"{d['surrogate_error']:.2f} noise sd"
    lines.append(f"R-hat max {rhat}, ESS bulk/tail min {d['ess_bulk_min']:.0f}/{d['ess_tail_min']:.0f}, "
                 f"{d['divergences']} divergences, emulator error {surr}")
    if args.out is not None:
        lines.append(f"files in {args.out}: idata.nc, report.json, pair.png, "
                     f"{'predictive.png, ' if result.check is not None else ''}config.json")
    return lines


def _plain(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


class StageBar:
    """One line per stage on stderr ("[2/3] MAP + NUTS …"); the stages' own bars (tqdm) follow it."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.k, self.t0 = total, enabled, 0, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.k += 1
        if self.enabled:
            print(f"[{self.k}/{self.total}] {text} (t = {time.perf_counter() - self.t0:.1f} s)", file=sys.stderr,
                  flush=True)


# --- domainfit emulator -------------------------------------------------------------------------------------


def _add_emulator(sub) -> None:
    p = sub.add_parser(
        "emulator",
        help="fit the emulator of the summary statistics to a dataset (for estimate --posterior)",
        description="Fit the amortised emulator of the statistics' mean μ(θ) and covariance Σ(θ) to every "
        "converged image of a 'domainfit generate' dataset, measure its error by K-fold cross-validation "
        "and save it. With --model it is saved beside the model (NAME.emulator.npz), where "
        "'estimate --posterior' finds it.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder (domainfit generate)")
    p.add_argument("--model", help="save beside this model (.eqx, .json or training folder)")
    p.add_argument("--out", type=Path, help="emulator file (.npz); default: beside --model")
    p.add_argument("--component", help="prior component of a mixed dataset (default: one emulator per component, "
                   "saved as NAME.emulator-COMPONENT.npz beside --model)")
    p.add_argument("--degree", type=int, default=3, help="polynomial degree of the mean (default 3)")
    p.add_argument("--degree-var", type=int, default=2, help="polynomial degree of the log-variance (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    p.add_argument("--learned", action="store_true",
                   help="add the --model CNN's estimates as learned statistics (fit on held-out data, never the "
                   "model's training set; docs/inference.md)")
    p.add_argument("--draws", type=int, default=4,
                   help="with --learned and a model trained on instrument views: instrument draws per state (default 4)")
    p.add_argument("--draw-seed", type=int, default=1, help="seed of those instrument draws (default 1)")
    p.add_argument("--json", action="store_true", help="print the error report as JSON on stdout")
    p.set_defaults(handler=_emulator)


def _emulator(args) -> int:
    from ._cli_ml import enable_compilation_cache
    from .nn import emulator_path
    from .nn.checkpoint import resolve_model_path

    if args.out is None and args.model is None:
        raise DomainfitError("say where the emulator goes: --model MODEL (saved beside it) or --out FILE.npz")
    if args.model == "default":  # the shipped model: its CNN for --learned, never overwritten in place
        if args.out is None:
            raise DomainfitError("--model default is the shipped model: give --out FILE.npz for the new emulator")
        from .nn import load_default

        args.model = str(load_default().path)
    if args.draws < 1:
        raise DomainfitError(f"--draws {args.draws}: need at least 1")
    if args.degree < 0 or args.degree_var < 0:
        raise DomainfitError(f"--degree {args.degree} --degree-var {args.degree_var}: need degrees ≥ 0")
    if args.model is not None and not resolve_model_path(args.model).is_file():
        raise DomainfitError(f"no model at {args.model}: train one with 'domainfit train' first")
    if args.learned and args.model is None:
        raise DomainfitError("--learned uses the estimates of a CNN: name it with --model MODEL")
    if not (Path(args.data) / "dataset.json").is_file():
        raise DomainfitError(f"no dataset at {args.data}: make one with 'domainfit generate'")
    from .data import Dataset
    from .inference.emulator import dataset_components

    components = dataset_components(Dataset(args.data))
    if args.component is not None:
        if args.component not in components:
            raise DomainfitError(f"--component {args.component}: the dataset's prior components are {', '.join(components)}")
        wanted = [args.component]
    else:
        wanted = components
    if args.out is not None and len(wanted) > 1:
        raise DomainfitError(f"the dataset mixes {', '.join(components)}: with --out, choose one with --component "
                             "(or use --model, which keeps one emulator per component beside the model)")
    targets = []
    for comp in wanted:
        if args.out is not None:
            out = Path(args.out)
        else:
            out = emulator_path(args.model, comp if len(components) > 1 else None)
        if out.suffix != ".npz":
            out = out.with_name(out.name + ".npz")
        if not out.resolve().parent.exists():
            raise DomainfitError(f"cannot write {out}: folder {out.parent} does not exist")
        targets.append((comp if len(components) > 1 else None, out))
    enable_compilation_cache()
    import jax

    from .inference import emulator_from_dataset
    from .nn import load_model

    learned = load_model(args.model) if args.learned else None
    summaries = []
    for comp, out in targets:
        t0 = time.perf_counter()
        emu = emulator_from_dataset(args.data, degree=args.degree, degree_var=args.degree_var,
                                    key=jax.random.key(args.seed), component=comp, learned=learned,
                                    draws=args.draws, draw_seed=args.draw_seed)
        emu.save(out)  # atomic: an interrupted run never leaves half an emulator
        rep = emu.error_report
        summaries.append({"out": str(out), "component": rep.get("component"), "inputs": list(emu.names),
                          "statistics": list(emu.stat_names), "area_um2": emu.area * 1e12, "cross_validation": rep,
                          "wall_time_s": round(time.perf_counter() - t0, 3)})
        if not args.json:
            _print_emulator(emu, out)
    if args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    return 0


def _print_emulator(emu, out: Path) -> None:
    rep = emu.error_report
    comp = f" (prior component {rep['component']})" if rep.get("component") else ""
    print(f"emulator of {len(emu.stat_names)} statistics over {', '.join(emu.names)} fitted to {rep.get('n_train')} "
          f"images{comp} (degree {rep.get('degree')}/{rep.get('degree_var')}); saved to {out}")
    if "z_rms" in rep:
        print(f"  {rep['folds']}-fold cross-validation: surrogate error {rep['surrogate_error']:.3f} noise sd "
              f"(upper {rep['surrogate_error_upper']:.3f}), 90 % coverage {rep['coverage_90']:.3f}")
        for name, z, e in zip(emu.stat_names, rep["z_rms"], rep["mean_error_over_sd"]):
            print(f"  {name:>16}: held-out z rms {z:.3f}, mean error {e:.3f} noise sd")
    bad = [n for n, z in zip(emu.stat_names, rep.get("z_rms", [])) if not math.isfinite(z)]
    if bad or ("surrogate_error" in rep and not math.isfinite(rep["surrogate_error"])):
        print(f"warning: cross-validation gave non-finite errors{' for ' + ', '.join(bad) if bad else ''} (a "
              "statistic that barely varies across the dataset?): the emulator's error is unknown", file=sys.stderr)
    if rep.get("constants"):
        print("  held constant in the dataset: " + ", ".join(f"{n} = {_user(n, v)}" for n, v in rep["constants"].items()))


def add_commands(sub) -> None:
    """Register ``emulator`` on an argparse subparsers object."""
    _add_emulator(sub)
