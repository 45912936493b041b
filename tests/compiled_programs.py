"""Keep the test process clear of the kernel's limit on memory mappings.

Every program XLA compiles for the CPU is loaded into a few memory mappings of its own, and JAX keeps
each compiled program for the life of the process. Linux refuses a process more than
``vm.max_map_count`` mappings (65,530 by default), and LLVM's loader then crashes the process with a
segmentation fault instead of raising. The product compiles each of its programs once per kind of
problem (a second posterior of another image compiles nothing: tests/test_compiled.py), but the test
suite compiles thousands of different programs (grids, networks, budgets) in one process: it passed
the limit after ~285 tests (CI exit 139). ``release_if_crowded`` (tests/conftest.py, before every
test) drops JAX's compiled programs once the process holds more than ``FRACTION`` of its allowed
mappings. Elsewhere than Linux it does nothing.
"""

from __future__ import annotations

FRACTION = 0.5
"""Share of ``vm.max_map_count`` above which compiled programs are released."""


def mapping_count() -> tuple[int, int] | None:
    """(mappings this process holds, the kernel's limit), or None where /proc does not say."""
    try:
        with open("/proc/self/maps", "rb") as f:
            used = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return used, limit


def release_if_crowded(fraction: float | None = None) -> bool:
    """Clear JAX's caches of compiled programs when the mappings pass ``fraction`` (default
    ``FRACTION``) of the limit; True when it did."""
    counts = mapping_count()
    if counts is None:
        return False
    used, limit = counts
    if used <= (FRACTION if fraction is None else fraction) * limit:
        return False
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
    return True
