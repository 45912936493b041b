"""Independent tasks on a Dask cluster: where the relaxations of ``generate``, the film path and the studies,
and the CNN readings of ``calibrate`` and of the emulator's learned statistics, run.

Everything expensive here is many independent relaxations or readings. ``Cluster(workers=N)`` starts a local cluster
of N worker processes (one JAX runtime each, with ``THREAD_ENV`` set before its JAX starts, and each bound
to a core of its own, so that N workers on N cores do not fight over them); ``Cluster(scheduler=ADDRESS)``
connects to a running Dask scheduler (a SLURM allocation through dask-jobqueue, a GPU node:
docs/scale-out.md). A function taking ``cluster=`` accepts such a spec (opened for the call and closed
after), a ``distributed.Client`` already open (kept open), or None: in this process, as before.

Tasks are submitted one per unit of work (a state, a batch, a case, a few rows of a dataset to read)
and balanced by the scheduler; what every task needs (a model, an opened dataset) is sent to each worker
once (``share``); the results come back to the client, which alone writes files (so a dataset's
identity does not depend on where its states were computed). A worker lost mid-task (killed, out of
memory): the scheduler runs its tasks again on another worker; a task that kills ``ALLOWED_FAILURES``
workers in turn is reported.

dask and distributed are the ``domainfit[cluster]`` extra, imported only here and only when a cluster
is asked for: ``import domainfit`` and ``domainfit estimate`` never load them.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from .errors import DomainfitError

THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
"""Set in each local worker process before JAX starts: Eigen and OpenMP/BLAS on one thread per worker.
XLA's CPU runtime still starts threads of its own beyond these flags, hence the core binding
(``Cluster.pin_cores``)."""

CONNECT_TIMEOUT_S = 30.0
"""How long to wait for a scheduler (``Cluster.timeout``) before saying it cannot be reached."""

ALLOWED_FAILURES = 3
"""Workers a task may take down with it before the run stops (``distributed.scheduler.allowed-failures``)."""

INSTALL_HINT = "pip install 'domainfit[cluster]' (dask and distributed)"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where tasks run: ``workers`` local worker processes, or the Dask scheduler at ``scheduler``.

    Attributes:
        workers: number of local worker processes (one thread and one JAX runtime each); on a CPU,
            at most one per core pays.
        scheduler: address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``, or a scheduler
            file (``scheduler.json``, as ``dask scheduler --scheduler-file`` writes it).
        timeout: seconds to wait for the scheduler [s].
    """

    workers: int | None = None
    scheduler: str | None = None
    timeout: float = CONNECT_TIMEOUT_S
    pin_cores: bool = True
    """Local workers: bind worker k, every thread of it, to the k-th core this process may use (Linux, at
    most one worker per core). XLA's CPU runtime runs more threads than its flags let on (a "one-thread"
    worker used 1.36 cores at 512²; docs/performance.md): without the binding one worker is not one core."""

    def __post_init__(self):
        if self.workers is not None and self.scheduler is not None:
            raise DomainfitError("--workers and --scheduler together: give one (local workers, or a running cluster)")
        if self.workers is None and self.scheduler is None:
            raise DomainfitError("a cluster needs --workers N or --scheduler ADDRESS")
        if self.workers is not None and (isinstance(self.workers, bool) or int(self.workers) != self.workers
                                         or self.workers < 1):
            raise DomainfitError(f"--workers {self.workers}: need a whole number of worker processes, at least 1")
        if self.scheduler is not None and not str(self.scheduler).strip():
            raise DomainfitError("--scheduler needs an address, e.g. tcp://10.0.0.5:8786")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise DomainfitError(f"cluster timeout {self.timeout}: need a positive number of seconds")

    def describe(self) -> str:
        return f"{self.workers} local worker process(es)" if self.workers else f"the Dask scheduler at {self.scheduler}"


def cluster_from_options(workers: int | None = None, scheduler: str | None = None) -> Cluster | None:
    """``--workers`` / ``--scheduler`` → a ``Cluster``, or None when neither is given (in this process)."""
    if workers is None and scheduler is None:
        return None
    return Cluster(workers=workers, scheduler=scheduler)


def cluster_parent(work: str = "the simulations") -> argparse.ArgumentParser:
    """``--workers N`` and ``--scheduler ADDRESS`` (an argparse parent; ``cluster_from_options(args.workers,
    args.scheduler)`` reads them); ``work`` names what runs there in their help."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("running on a cluster (docs/scale-out.md; needs domainfit[cluster])")
    g.add_argument("--workers", type=int, metavar="N",
                   help=f"run {work} in N local worker processes (each bound to a core of its own; at most "
                        "one per core pays)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help=f"run {work} on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786, or a "
                        "scheduler file)")
    return p


def is_client(obj) -> bool:
    """Whether ``obj`` is an open ``distributed.Client`` (without importing distributed)."""
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise DomainfitError(f"running on a cluster needs dask and distributed: {INSTALL_HINT}") from None
    return distributed


def worker_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a local worker: ``THREAD_ENV`` (XLA flags appended to the caller's own), and
    the JAX settings this process chose that change results or speed (x64, the compilation cache)."""
    base = os.environ if base is None else base
    env = dict(THREAD_ENV)
    if base.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = f"{base['XLA_FLAGS']} {THREAD_ENV['XLA_FLAGS']}"
    jax = sys.modules.get("jax")
    if jax is not None:  # settings made in code (jax.config.update) that a fresh process would not see
        if jax.config.jax_enable_x64:
            env["JAX_ENABLE_X64"] = "1"
        if jax.config.jax_compilation_cache_dir:
            env["JAX_COMPILATION_CACHE_DIR"] = str(jax.config.jax_compilation_cache_dir)
            env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = str(jax.config.jax_persistent_cache_min_compile_time_secs)
    return env


@contextlib.contextmanager
def open_cluster(cluster) -> Iterator[object | None]:
    """The ``distributed.Client`` of ``cluster`` for the duration of the block, or None for None.

    A ``Cluster`` is started (local workers) or connected to (scheduler) here and closed at the end; an
    open ``Client`` is used as it is and left open. An unreachable scheduler is a ``DomainfitError``
    after ``Cluster.timeout`` seconds."""
    if cluster is None or is_client(cluster):
        yield cluster
        return
    if not isinstance(cluster, Cluster):
        raise DomainfitError(f"cluster {cluster!r}: give a domainfit.Cluster, a distributed.Client or None")
    distributed = _import_distributed()
    import dask

    # dask sets its pre-spawn variables (OMP_NUM_THREADS=1, …) in this process's own environment too, where
    # they would reach every subprocess started later; the workers get ours through ``env`` instead.
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.nanny.pre-spawn-environ": {}}):
        if cluster.workers is not None:
            import logging

            try:
                local = distributed.LocalCluster(n_workers=int(cluster.workers), threads_per_worker=1, processes=True,
                                                 dashboard_address=None, env=worker_env(), silence_logs=logging.ERROR)
            except RuntimeError as err:  # typically a script that starts workers outside its __main__ guard
                raise DomainfitError(f"could not start {cluster.workers} local worker processes ({err}); a script that "
                                     "starts them must do so under `if __name__ == \"__main__\":`") from None
            try:
                with distributed.Client(local) as client:
                    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
                    if cluster.pin_cores and 0 < int(cluster.workers) <= len(cores):
                        client.register_plugin(_core_binding(tuple(cores)))
                    yield client
            finally:
                local.close()
            return
        try:
            address = str(cluster.scheduler)
            if address.endswith(".json") and os.path.isfile(address):
                client = distributed.Client(scheduler_file=address, timeout=cluster.timeout)
            else:
                client = distributed.Client(address, timeout=cluster.timeout)
        except (OSError, ValueError, TypeError) as err:
            raise DomainfitError(f"cannot reach the Dask scheduler at {cluster.scheduler} within "
                                 f"{cluster.timeout:g} s ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                                 "is it running, and is the address tcp://HOST:PORT?") from None
        with client:
            yield client


def bind_threads(core: int) -> None:
    """Bind every thread of this process to ``core`` (threads started later inherit it; Linux)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {core})
        except OSError:  # a thread that has just ended
            pass


def _core_binding(cores: tuple[int, ...]):
    """A worker plugin binding local worker k (its name) to ``cores[k mod n]``, restarted workers included."""
    from distributed import WorkerPlugin

    class BindToCore(WorkerPlugin):
        name = "domainfit-bind-to-core"

        def __init__(self, cores):
            self.cores = cores

        def setup(self, worker):
            bind_threads(self.cores[int(worker.name) % len(self.cores)])

    return BindToCore(cores)


def run_tasks(client, fn: Callable, arguments: Iterable[Sequence], *, name: str = "task") -> Iterator[tuple[int, object]]:
    """``fn(*arguments[i])`` for every i, as ``(i, result)`` in the order they finish.

    With ``client`` None they run here, one after another, in order. With a ``distributed.Client`` each
    is one task (the scheduler balances uneven ones over the workers and reruns those of a lost
    worker); leaving the loop early cancels what has not run. ``fn`` must be importable on the workers
    (a module-level function of domainfit or of a module they can import)."""
    arguments = [tuple(a) for a in arguments]
    if client is None:
        for i, args in enumerate(arguments):
            yield i, fn(*args)
        return
    import uuid

    distributed = _import_distributed()
    tag = uuid.uuid4().hex[:8]
    futures = [client.submit(fn, *args, key=f"{name}-{tag}-{i}", pure=False) for i, args in enumerate(arguments)]
    order = {f.key: i for i, f in enumerate(futures)}
    try:
        for future, result in distributed.as_completed(futures, with_results=True):
            yield order[future.key], result
            future.release()
    except distributed.KilledWorker as err:
        raise DomainfitError(f"a {name} took down {ALLOWED_FAILURES} workers in turn (out of memory?): {err}") from None
    finally:
        client.cancel([f for f in futures if not f.done()])


def share(client, obj):
    """``obj`` as an argument of ``run_tasks``: with a client, sent once to every worker (``Client.scatter``,
    broadcast) and passed as its future, so that a model or a dataset is not pickled again for every
    task; without one, ``obj`` itself."""
    if client is None:
        return obj
    return client.scatter([obj], broadcast=True, hash=False)[0]


def rows_per_task(client, n: int, most: int = 16) -> int:
    """Rows of a dataset per task when ``n`` rows are read: ``most`` here (client None); on a cluster
    about four tasks per worker (the scheduler balances uneven ones), 1 to ``most`` rows each. The rows
    of a reading never depend on it (each view's draws derive from its row alone)."""
    if client is None:
        return most
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    return max(1, min(most, math.ceil(n / (4 * workers))))


_SCOPE: contextvars.ContextVar = contextvars.ContextVar("domainfit_cluster_scope", default=None)


@contextlib.contextmanager
def cluster_scope(cluster) -> Iterator[object | None]:
    """``open_cluster(cluster)`` for the block, whose client is also the cluster of every call inside
    it that is given none (``scoped``): for a call whose ``cluster=`` does not reach the functions that
    do the work (``domainfit emulator``: the CNN readings of ``nn.recorded`` and ``nn.evaluate`` under
    ``surrogate.model_emulators.fit_emulators``)."""
    with open_cluster(cluster) as client:
        token = _SCOPE.set(client)
        try:
            yield client
        finally:
            _SCOPE.reset(token)


def scoped(cluster):
    """``cluster``, or when it is None the client of the enclosing ``cluster_scope`` (None outside one:
    in this process)."""
    return _SCOPE.get() if cluster is None else cluster


def run_on_workers(client, fn: Callable, *args) -> dict:
    """``fn(*args)`` once on every worker now (``Client.run``; e.g. a warm-up that compiles): {address: result}."""
    return client.run(fn, *args)
