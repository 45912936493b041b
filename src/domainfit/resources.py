"""Resource bounds checked before allocation: a run that would exhaust the machine's memory is refused
with the limit named, instead of being killed by the kernel (or segfaulting) part-way.

The relaxation's memory was measured (peak RSS of ``domainfit simulate --cells N --max-steps 30``,
float32, 2-core CPU): 0.44 GB at 128², 0.50 GB at 512², 0.69 GB at 1024², 1.59 GB at 2048² — about
290 bytes per cell above a 0.45 GB base (the spectral demagnetising kernel, fields, the minimiser's
state and the grains); ``RELAX_BYTES_PER_CELL`` keeps a margin over that.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DomainfitError

RELAX_BYTES_PER_CELL = 400
"""Memory of one float32 relaxation per cell [bytes] (measured ~290, with a margin); twice in float64."""
BASE_BYTES = 450e6
"""The process before any grid: Python, JAX, XLA [bytes]."""
MAX_CELLS_PER_SIDE = 16384
"""Largest grid side accepted (FFT sizes and int32 indices stay far from their limits)."""


def _meminfo_available() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _cgroup_available() -> float:
    """What the process's cgroup (v2) still allows: memory.max − memory.current (a batch job's limit)."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return float("inf")
        return float(limit) - float(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return float("inf")


def _address_space_available() -> float:
    """What ``ulimit -v`` (RLIMIT_AS) still allows: the limit − the process's virtual size now."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return float("inf")
        with open("/proc/self/status") as f:
            size = next(float(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        return float(soft) - size
    except (ImportError, OSError, ValueError, StopIteration):
        return float("inf")


def available_memory() -> float:
    """Memory a new allocation can have now [bytes]: the least of the machine's available memory
    (``MemAvailable``), the cgroup's limit (batch systems, containers) and ``ulimit -v``."""
    return min(_meminfo_available(), _cgroup_available(), _address_space_available())


def check_memory(need: float, what: str, hint: str) -> None:
    """Refuse ``what`` when it needs more than the memory available now (``hint``: what to do)."""
    have = available_memory()
    if need > have:
        raise DomainfitError(f"{what} needs about {need / 1e9:.3g} GB of memory and {have / 1e9:.3g} GB are available: "
                             f"{hint}")


def check_grid(nx: int, ny: int, *, batch: int = 1, x64: bool = False, what: str = "the relaxation") -> None:
    """Refuse a grid (``batch`` relaxations at once) that is not a positive size or would not fit in memory."""
    for name, n in (("cells along x", nx), ("cells along y", ny)):
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CELLS_PER_SIDE:
            raise DomainfitError(f"{name} {n!r}: need an integer from 1 to {MAX_CELLS_PER_SIDE}")
    need = BASE_BYTES + RELAX_BYTES_PER_CELL * (2 if x64 else 1) * nx * ny * batch
    check_memory(need, f"{what} of {nx} × {ny} cells" + (f" × {batch} at once" if batch > 1 else ""),
                 "use fewer cells (a larger --cell-size covers the same field of view)" + (" or a smaller --batch" if
                                                                                           batch > 1 else ""))
