"""The workflows' reference numbers (tests/data/reference_numbers.json; remade, with each number's
Monte-Carlo error and its change from the previous references, by ``python -m studies.reference_numbers``):
a change of structure must not change a posterior mean or a log-evidence."""

import json
import math
from pathlib import Path

REFERENCES = json.loads((Path(__file__).parent / "data" / "reference_numbers.json").read_text())


def same_to_3_digits(got: float, want: float) -> bool:
    """Equal to 3 significant digits (relative 1e-3; exact zeros equal)."""
    return got == want or math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-12)


def check(name: str, got: dict) -> None:
    """``got`` ({key: number or nested dict}) equals the reference ``name`` to 3 significant digits."""
    want = REFERENCES[name]

    def walk(g, w, path):
        if isinstance(w, dict):
            assert set(w) <= set(g), f"{name}: {path or 'result'} lacks {sorted(set(w) - set(g))}"
            for k in w:
                walk(g[k], w[k], f"{path}.{k}" if path else k)
        elif isinstance(w, str):
            assert g == w, f"{name}.{path}: {g!r}, reference {w!r}"
        else:
            assert same_to_3_digits(float(g), float(w)), f"{name}.{path}: {g:.6g}, reference {w:.6g}"

    walk(got, want, "")
