"""Posterior reports: a JSON summary in user units, plain-words warnings, NetCDF of the draws.

Per parameter: unit, mean, sd, median and the highest-density interval at ``hdi_prob`` (ArviZ), with
R-hat and bulk/tail ESS; diagnostics: divergences, surrogate (emulator) error, wall time. Warnings are
raised in plain words when R-hat > 1.01, ESS < 400, or any transition diverged (Vehtari et al. 2021).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DomainfitError
from ..parameters import USER as USER_UNITS

RHAT_LIMIT = 1.01
ESS_LIMIT = 400
SURROGATE_LIMIT = 0.3
"""Emulator mean error above this fraction of the observation's noise sd earns a warning."""


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def summarize(
    idata,
    *,
    hdi_prob: float = 0.9,
    surrogate_error: float | None = None,
    extra_warnings: Sequence[str] = (),
    emit: bool = True,
) -> dict:
    """JSON-ready summary of a NUTS ``InferenceData`` (values in user units, e.g. mJ/m², kA/m).

    ``surrogate_error`` defaults to ``idata.attrs["surrogate_error"]`` (negative or absent: none).
    ``extra_warnings`` (e.g. an out-of-distribution notice) are appended. With ``emit`` the warnings
    are also issued through ``warnings.warn``. ``untrustworthy`` lists the warnings that say the
    intervals should not be believed (all but the emulator-error notice, whose error the likelihood
    already carries).
    """
    import arviz as az

    if not 0 < hdi_prob < 1:
        raise DomainfitError(f"HDI probability {hdi_prob}: must lie strictly between 0 and 1")
    post = idata.posterior
    names = list(post.data_vars)
    si_units = json.loads(idata.attrs.get("units", "{}"))
    n_chains, n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    rhat = az.rhat(idata) if n_chains > 1 else None
    ess_bulk = az.ess(idata, method="bulk")
    ess_tail = az.ess(idata, method="tail")
    hdi = az.hdi(idata, hdi_prob=hdi_prob)
    params, messages = {}, []
    for name in names:
        unit, factor = USER_UNITS.get(name, (si_units.get(name, "?"), 1.0))
        v = np.asarray(post[name]).reshape(-1) / factor
        lo, hi = (np.asarray(hdi[name]) / factor).tolist()
        r = _finite(rhat[name]) if rhat is not None else None
        eb, et = _finite(ess_bulk[name]), _finite(ess_tail[name])
        params[name] = dict(unit=unit, mean=float(v.mean()), sd=float(v.std(ddof=1)), median=float(np.median(v)),
                            hdi_low=lo, hdi_high=hi, hdi_prob=hdi_prob, r_hat=r, ess_bulk=eb, ess_tail=et)
        if r is not None and r > RHAT_LIMIT:
            messages.append(f"R-hat of {name} is {r:.3f} (above {RHAT_LIMIT}): the chains disagree, so the "
                            "posterior is not yet reliable; run more warm-up and samples")
        if rhat is None:
            messages.append("only one chain: R-hat cannot be computed; run at least 2 chains (4 recommended)")
        ess_min = min(x if x is not None else 0.0 for x in (eb, et))
        if ess_min < ESS_LIMIT:
            messages.append(f"only {ess_min:.0f} effective draws of {name} (fewer than {ESS_LIMIT}): its "
                            "interval is rough; draw more samples")
    divergences = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "diverging" in idata.sample_stats else 0
    if divergences:
        messages.append(f"{divergences} divergent transitions: the sampler hit regions it could not follow, "
                        "so the posterior may be biased; raise target_accept or check the prior's edges")
    if surrogate_error is None:
        s = float(idata.attrs.get("surrogate_error", -1.0))
        surrogate_error = s if s >= 0 else None
    serious = list(dict.fromkeys(messages)) + list(extra_warnings)
    if surrogate_error is not None and surrogate_error > SURROGATE_LIMIT:
        messages.append(f"the emulator's mean error is {surrogate_error:.2f} of the noise sd (above "
                        f"{SURROGATE_LIMIT}); its measured error is included in the likelihood, so the intervals "
                        "are wider for it. To narrow them, refine the emulator with fresh simulations around the "
                        "MAP (Python: Emulator.refine, docs/inference.md) or fit it to more training images")
    messages = list(dict.fromkeys(messages)) + list(extra_warnings)
    if emit:
        for m in messages:
            warnings.warn(m, stacklevel=2)
    return dict(
        parameters=params,
        diagnostics=dict(
            r_hat_max=max((p["r_hat"] for p in params.values() if p["r_hat"] is not None), default=None),
            ess_bulk_min=min((p["ess_bulk"] or 0.0 for p in params.values()), default=None),
            ess_tail_min=min((p["ess_tail"] or 0.0 for p in params.values()), default=None),
            divergences=divergences, surrogate_error=surrogate_error,
            wall_time_s=float(idata.attrs.get("wall_time_s", float("nan"))),
            num_chains=n_chains, num_draws=n_draws,
        ),
        warnings=messages,
        untrustworthy=serious,
    )


def save_json(summary: dict, path: str | Path) -> Path:
    """Write a summary (or any JSON-able dict) to ``path``, atomically."""
    from .._files import atomic_write

    path = Path(path)
    try:
        atomic_write(path, json.dumps(summary, indent=2, default=_json_default))
    except OSError as err:
        raise DomainfitError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_netcdf(idata, path: str | Path) -> Path:
    """Write the ``InferenceData`` to NetCDF (``arviz.from_netcdf`` reads it back), atomically."""
    from .._files import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            idata.to_netcdf(str(tmp))
    except (OSError, ValueError) as err:
        raise DomainfitError(f"cannot write {path}: {err}") from None
    return path
