"""Keep a long-lived process clear of the kernel's limit on memory mappings.

Every program XLA compiles for the CPU is loaded into a few memory mappings of its own, and JAX keeps
each compiled program for the life of the process — also those of functions that no longer exist
(a posterior run builds its potential as a new closure, so each run compiles anew). Linux refuses a
process more than ``vm.max_map_count`` mappings (65,530 by default), and LLVM's loader then crashes
the process with a segmentation fault instead of raising. Measured (2-core CPU, jaxlib 0.10.2): one
``estimate(posterior=...)`` adds ~1,160 mappings, so a notebook or script that estimated ~55 images in
one process died; the test suite died the same way after ~285 tests.

``release_if_crowded`` (called at the end of ``estimate`` and ``compare``) drops JAX's compiled
programs once the process holds more than ``FRACTION`` of its allowed mappings: the next call compiles
again (a few seconds) instead of the process crashing. Elsewhere than Linux it does nothing.
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
