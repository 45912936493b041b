import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache


@pytest.fixture
def x64():
    """Run a test in float64 where its tolerance needs it."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(autouse=True, scope="session")
def no_persistent_cache():
    """Commands run in-process (``main([...])``) must not switch on the on-disk compilation cache:
    once on, JAX keeps it for the whole process and serialises every later program of the suite
    (CI crashed once inside that serialisation, jaxlib 0.10.2). Tests that want a cache set one up
    themselves and hand it back with :func:`release_persistent_cache`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINFIT_NO_CACHE", "1")
        yield


def release_persistent_cache(min_compile_time_s: float) -> None:
    """Turn off a compilation cache a test switched on, so the rest of the process compiles without it."""
    jax.config.update("jax_compilation_cache_dir", None)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_s)
    compilation_cache.reset_cache()


@pytest.fixture(autouse=True)
def mappings_below_the_limit():
    """JAX keeps every program it compiled for the life of the process, each in memory mappings of
    its own: the suite passed vm.max_map_count after ~285 tests and LLVM's loader segfaulted (CI exit
    139). Release them whenever the process holds half its allowed mappings (tests/compiled_programs.py)."""
    from compiled_programs import release_if_crowded

    release_if_crowded()
    yield


@pytest.fixture(autouse=True)
def cpu_share(request, tmp_path_factory, worker_id):
    """Tests run in two worker processes (pyproject's addopts); a test that times itself against an
    acceptance figure (``@pytest.mark.exclusive``) must have the machine alone. Every test holds a shared
    lock while it runs, an exclusive test the exclusive one; a gate lock stops new shared holders while
    an exclusive test waits (flock does not queue writers ahead of readers)."""
    import fcntl

    if worker_id == "master":  # not under xdist: nothing else runs
        yield
        return
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of one run
    exclusive = request.node.get_closest_marker("exclusive") is not None
    with open(root / "cpu.gate", "a") as gate, open(root / "cpu.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
