"""Setting up the posterior of one image: which emulator, which prior, where the MAP starts.

``domainfit.estimate(..., posterior=True)`` and ``domainfit.compare`` use these; each is public so a
script can repeat one step (the calibration benchmark does). A model's emulator lives beside it,
``NAME.eqx`` → ``NAME.emulator.npz`` (``nn.emulator_path``), or, for a training set mixing prior
boxes, one per box as ``NAME.emulator-COMPONENT.npz``; the one whose box the CNN estimate fits is
used (``choose_emulator``).

Priors a user gives (``priors=``) take any of: an ``inference.Prior`` or a list/dict of them (each
replaces the default prior of its parameter), a ``PriorModel`` or a numpyro prior function (a
function calling ``numpyro.sample``, which replaces the whole prior), or the path of a Python file
defining ``prior()`` or ``prior(box)`` that returns one of those.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import DomainfitError
from ..units import format_user

PRIOR_FUNCTION = "prior"
"""Name of the function a prior file must define."""


def find_emulators(model_path, explicit=None) -> list:
    """[(emulator, path)]: the file(s) ``explicit`` (a path or a list of paths), or those beside the model (one, or one per prior
    component of a mixed training set); a clear error if none."""
    from ..nn import emulator_path, emulator_paths
    from ..surrogate.emulator import Emulator

    if explicit is not None:
        files = [explicit] if isinstance(explicit, (str, Path)) else list(explicit)
        for f in files:
            if not Path(f).is_file():
                raise DomainfitError(f"emulator {f}: no such file")
        return [(Emulator.load(f), Path(f)) for f in files]
    paths = emulator_paths(model_path)
    if not paths:
        raise DomainfitError(f"no emulator for model {model_path} (looked for {emulator_path(model_path)}): run "
                             f"`domainfit emulator --data DATASET --model {model_path}` or pass --emulator FILE")
    return [(Emulator.load(p), p) for p in paths]


def choose_emulator(cnn_mean: Mapping[str, float], cnn_sd: Mapping[str, float], candidates: Sequence) -> int:
    """Index of the candidate emulator whose training box the CNN estimate fits best.

    The distance of the estimate to a box is Σ over the box's parameters (inputs and held constants)
    of the CNN-sd-normalised distance outside the range, squared: 0 inside. One candidate: 0.
    """
    if len(candidates) == 1:
        return 0
    scores = []
    for emu in candidates:
        ranges = dict(emu.box)
        ranges.update({n: (v, v) for n, v in emu.constants.items()})
        d2 = 0.0
        for name, (lo, hi) in ranges.items():
            if name not in cnn_mean:
                continue
            x, sd = float(cnn_mean[name]), max(float(cnn_sd.get(name, 0.0)), 1e-12 * max(abs(lo), abs(hi), 1e-30))
            d2 += (max(lo - x, 0.0, x - hi) / sd) ** 2
        scores.append(d2)
    return int(min(range(len(scores)), key=scores.__getitem__))


def check_fixes(emulator, fixes: Mapping[str, float], *, model: str | None = None) -> list[str]:
    """Refuse a fixed value of a parameter the emulator does not take (a typo, or a constant of its
    training set at another value: it would change nothing); return notices for values outside the
    emulator's training box, where it extrapolates. ``model`` names the model in the messages."""
    box, constants = emulator.box, emulator.constants
    whose = f"model {model!r}" if model else "the emulator"
    notices = []
    for name, value in fixes.items():
        if name in box:
            lo, hi = box[name]
            if not lo <= value <= hi:
                notices.append(f"{model + ': ' if model else ''}{name} is fixed at {format_user(name, value)}, outside "
                               f"the emulator's training box [{format_user(name, lo)}, {format_user(name, hi)}]: "
                               "the emulator extrapolates there")
        elif not (name in constants and math.isclose(value, constants[name], rel_tol=1e-6)):
            held = (f"; its training set held {name} at {format_user(name, constants[name])}"
                    if name in constants else "")
            raise DomainfitError(f"cannot fix {name}: it is not an input of {whose} (its emulator takes "
                                 f"{', '.join(box)}{held})")
    return notices


def load_prior_file(path: str | Path, box: Mapping[str, tuple[float, float]]):
    """Run ``path`` as a module and call its ``prior`` function (with ``box`` if it takes an argument).

    A ``prior()`` without argument that itself calls ``numpyro.sample`` is the prior function.
    """
    path = Path(path)
    if not path.is_file():
        raise DomainfitError(f"prior file {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"domainfit_user_prior_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None:
        raise DomainfitError(f"prior file {path}: cannot load it as a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SystemExit as stop:  # sys.exit() in the user's file must not end the run silently
        raise DomainfitError(f"prior file {path} called sys.exit({stop.code!r}) while loading: a prior file only "
                             f"defines {PRIOR_FUNCTION}()") from None
    except Exception as err:  # the user's file: report what broke, in one line
        raise DomainfitError(f"prior file {path} failed to run: {type(err).__name__}: {err}") from None
    fn = getattr(module, PRIOR_FUNCTION, None)
    if not callable(fn):
        raise DomainfitError(f"prior file {path} defines no function {PRIOR_FUNCTION}(): add "
                             f"`def {PRIOR_FUNCTION}(box): return {{'D': Prior.uniform('D', 0.3e-3, 0.6e-3)}}`")
    if not _takes_argument(fn) and _is_numpyro_prior(fn):
        return fn
    try:
        return fn(dict(box)) if _takes_argument(fn) else fn()
    except DomainfitError:
        raise
    except SystemExit as stop:
        raise DomainfitError(f"prior file {path}: {PRIOR_FUNCTION}() called sys.exit({stop.code!r})") from None
    except Exception as err:
        raise DomainfitError(f"prior file {path}: {PRIOR_FUNCTION}() failed: {type(err).__name__}: {err}") from None


def _takes_argument(fn) -> bool:
    try:
        return len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        return False


def _is_numpyro_prior(fn) -> bool:
    """True when calling ``fn()`` records a ``numpyro.sample`` site."""
    try:
        from numpyro import handlers

        trace = handlers.trace(handlers.seed(fn, 0)).get_trace()
    except Exception:
        return False
    return any(site["type"] == "sample" for site in trace.values())


def user_prior(priors, box: Mapping[str, tuple[float, float]], *, fixes: bool = False):
    """A user's ``priors`` (module docstring) as ``(value, source)``: value None, a dict {name: Prior}
    replacing those parameters' priors, or a ``PriorModel`` replacing the whole prior (refused when
    ``fixes`` are given too: fix inside it). A prior file is run with ``box`` (name → (low, high), SI)."""
    from ..inference.priors import Prior, PriorModel

    source = "the given prior"
    if isinstance(priors, (str, Path)):
        source = str(priors)
        priors = load_prior_file(priors, box)
    if priors is None:
        return None, source
    if isinstance(priors, Prior):
        priors = [priors]
    if isinstance(priors, (list, tuple)) and all(isinstance(p, Prior) for p in priors):
        priors = {p.name: p for p in priors}
    if isinstance(priors, PriorModel) or (callable(priors) and not isinstance(priors, Mapping)):
        if fixes:
            raise DomainfitError(f"fixed values cannot change the prior function of {source}: fix parameters "
                                 "inside it instead")
        return (priors if isinstance(priors, PriorModel) else PriorModel.from_function(priors)), source
    if not (isinstance(priors, Mapping) and all(isinstance(p, Prior) for p in priors.values())):
        raise DomainfitError(f"{source} is a {type(priors).__name__}: give a Prior, a dict or list of Prior, a "
                             "PriorModel, or a function calling numpyro.sample")
    return dict(priors), source


def build_prior(emulator, fixes: Mapping[str, float] | None = None, priors=None):
    """The prior of a posterior run with ``emulator`` and the names whose prior is its training box.

    Default: uniform over the emulator's training box for each of its inputs; parameters its training
    set held constant are fixed at that value. ``fixes`` ({name: SI value}) replace single priors;
    ``priors`` (module docstring) replace the priors they name, or the whole prior. Returns
    ``(PriorModel, boxed)``: the MAP seed is moved into the box for the ``boxed`` names only.
    """
    from ..inference.problem import check_prior_inputs
    from ..inference.priors import Prior, PriorModel

    fixes = dict(fixes or {})
    box, constants = emulator.box, emulator.constants
    spec = {n: Prior.uniform(n, lo, hi) for n, (lo, hi) in box.items()}
    spec.update({n: Prior.fix(n, v) for n, v in constants.items()})
    boxed = set(box)
    user, source = user_prior(priors, box, fixes=bool(fixes))
    if isinstance(user, PriorModel):
        missing = [n for n in emulator.names if n not in user.parameters]
        if missing:
            raise DomainfitError(f"{source} lacks {', '.join(missing)}, an input of the emulator: give it a "
                                 "prior or a fixed value")
        check_prior_inputs(user.names, emulator.names)
        return user, set()
    if user is not None:
        spec.update(user)
        boxed -= set(user)
    check_fixes(emulator, fixes)
    for name, value in fixes.items():
        if name in box:
            spec[name] = Prior.fix(name, value)
            boxed.discard(name)
    check_prior_inputs([n for n, p in spec.items() if not p.fixed], emulator.names)
    if all(p.fixed for p in spec.values()):
        raise DomainfitError("every parameter is fixed: nothing left to infer (drop a fixed value)")
    return PriorModel(spec), boxed


def seed_from_cnn(cnn_mean: Mapping[str, float], box: Mapping[str, tuple[float, float]], boxed: set[str]):
    """The MAP start (SI): the CNN estimate, moved just inside the training box for box-prior parameters
    (the CNN may stray slightly outside the box it was trained on). Returns (seed, notices)."""
    seed, notices = dict(cnn_mean), []
    for name in boxed:
        if name not in seed or name not in box:
            continue
        lo, hi = box[name]
        inside = min(max(seed[name], lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
        if not lo <= seed[name] <= hi:
            notices.append(f"the CNN estimate of {name} ({format_user(name, seed[name])}) lies outside the emulator's "
                           f"training box [{format_user(name, lo)}, {format_user(name, hi)}]: the MAP started from the "
                           "nearest point inside it")
        seed[name] = inside
    return seed, notices
