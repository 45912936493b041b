"""The workflows' reference numbers (tests/data/reference_numbers.json; remade, with each number's
Monte-Carlo error and its change from the previous references, by ``python -m studies.reference_numbers``):
a change of structure must not change a posterior mean or a log-evidence.

In the environment that made the references (``_environment``: library versions and CPU) every number
must agree to 3 significant digits. In another one a posterior differs by chaos alone — NUTS
trajectories diverge on the last bits of the log density, which a new jax or another CPU's vector
units change — so there a number must lie within ``Z_MAX`` of the two runs' combined Monte-Carlo
error, √2 · ``_mc_error``."""

import json
import math
from pathlib import Path

from studies.reference_numbers import environment

REFERENCES = json.loads((Path(__file__).parent / "data" / "reference_numbers.json").read_text())
MC_ERRORS = REFERENCES.get("_mc_error", {})
SAME_ENVIRONMENT = REFERENCES.get("_environment") == environment()
Z_MAX = 4.0


def same_to_3_digits(got: float, want: float) -> bool:
    """Equal to 3 significant digits (relative 1e-3; exact zeros equal)."""
    return got == want or math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-12)


def check(name: str, got: dict, strict: bool | None = None) -> None:
    """``got`` ({key: number or nested dict}) equals the reference ``name``: to 3 significant digits
    when ``strict`` (default: in the references' own environment), else within ``Z_MAX`` combined
    Monte-Carlo errors."""
    want = REFERENCES[name]
    strict = SAME_ENVIRONMENT if strict is None else strict

    def walk(g, w, e, path):
        if isinstance(w, dict):
            assert set(w) <= set(g), f"{name}: {path or 'result'} lacks {sorted(set(w) - set(g))}"
            for k in w:
                walk(g[k], w[k], (e or {}).get(k), f"{path}.{k}" if path else k)
        elif isinstance(w, str):
            assert g == w, f"{name}.{path}: {g!r}, reference {w!r}"
        elif strict or same_to_3_digits(float(g), float(w)):
            assert same_to_3_digits(float(g), float(w)), f"{name}.{path}: {g:.6g}, reference {w:.6g}"
        else:
            assert e is not None, f"{name}.{path}: {g:.6g}, reference {w:.6g} (no Monte-Carlo error stored)"
            z = (float(g) - float(w)) / (math.sqrt(2) * e) if e > 0 else math.inf
            assert abs(z) <= Z_MAX, (f"{name}.{path}: {g:.6g}, reference {w:.6g}: z {z:+.1f} in the runs' Monte-Carlo "
                                     f"error {e:.2g} (another environment than the references')")

    walk(got, want, MC_ERRORS.get(name), "")
