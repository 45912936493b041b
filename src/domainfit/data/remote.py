"""``generate``'s relaxations as tasks on a Dask cluster, its chunks written here (``tasks``).

One task per batch of samples (one sample on a CPU worker, a batch on a GPU worker), submitted for
every missing chunk at once, so that the scheduler balances uneven relaxations (low-ms states take 1–4×
the median) and reruns the tasks of a lost worker. A task returns the arrays of its samples
(``generate.relax_samples``: a pure function of the configuration and the indices); this process puts
a chunk together when its last batch arrives and writes it as the serial run does (``store.write_chunk``,
atomic, committed by its marker). So the dataset equals the serial run's, array for array, and a run
killed at any moment resumes as one made here does.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np

from ..tasks import open_cluster, run_tasks
from .runner import concatenate, relax_samples
from . import store


def relax_task(config, indices: np.ndarray, batch: int) -> tuple[dict[str, np.ndarray], float, str]:
    """What a worker runs: (``relax_samples`` of ``indices``, its wall time [s], the worker's host name)."""
    t0 = time.perf_counter()
    arrays = relax_samples(config, indices, batch)
    return arrays, time.perf_counter() - t0, socket.gethostname()


def fill_chunks(config, todo: list[int], cluster, batch: int,
                commit: Callable[[int, dict, dict], None], bar) -> None:
    """Relax the samples of chunks ``todo`` on ``cluster`` and ``commit(j, arrays, attrs)`` each chunk
    as soon as all its batches are in (in the order chunks complete)."""
    pieces = []
    for j in todo:
        indices = store.chunk_indices(j, config.count, config.chunk_size)
        pieces += [(j, a, indices[a : a + batch]) for a in range(0, len(indices), batch)]
    expected = {j: sum(1 for p in pieces if p[0] == j) for j in todo}
    parts: dict[int, dict[int, dict]] = {j: {} for j in todo}
    seconds: dict[int, float] = dict.fromkeys(todo, 0.0)
    hosts: dict[int, set] = {j: set() for j in todo}
    with open_cluster(cluster) as client:
        where = _describe(client)
        bar.set_postfix_str(f"{len(todo)} chunks to write on {where}; compiling", refresh=True)
        for k, (arrays, wall, host) in run_tasks(client, relax_task, [(config, p[2], batch) for p in pieces],
                                                 name="relaxation"):
            j, a, piece = pieces[k]
            if "compiling" in (bar.postfix or ""):
                bar.set_postfix_str(f"on {where}", refresh=False)
            parts[j][a] = arrays
            seconds[j] += wall
            hosts[j].add(host)
            bar.update(len(piece))
            if len(parts[j]) == expected[j]:
                commit(j, concatenate(parts.pop(j)), {"task_seconds": seconds[j], "hosts": ",".join(sorted(hosts[j]))})


def _describe(client) -> str:
    try:
        return f"{len(client.nthreads())} workers"
    except Exception:  # noqa: BLE001 - only a progress label
        return "the cluster"
