"""A long-lived process must stay flat: a second posterior compiles nothing; the test process itself
releases compiled programs before the kernel's mapping limit (tests/compiled_programs.py)."""

import jax
import jax.numpy as jnp
import pytest

import compiled_programs as _compiled


def _compiled_once():
    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
    f(jnp.ones(5)).block_until_ready()
    assert f._cache_size() == 1
    return f


@pytest.mark.skipif(_compiled.mapping_count() is None, reason="no /proc mapping count on this system")
def test_compiled_programs_are_released_only_when_the_mappings_crowd():
    used, limit = _compiled.mapping_count()
    assert 0 < used < limit
    f = _compiled_once()
    assert not _compiled.release_if_crowded(fraction=1.0) and f._cache_size() == 1
    assert _compiled.release_if_crowded(fraction=0.0) and f._cache_size() == 0


class _Compilations:
    """Counts XLA compilations while active (jax_log_compiles), by the compiled function's name."""

    def __enter__(self):
        import logging

        self.names: list[str] = []
        counter = self

        class Handler(logging.Handler):
            def emit(self, record):
                msg = record.getMessage()
                if msg.startswith("Finished XLA compilation of "):
                    counter.names.append(msg.split()[4])

        self.handler = Handler()
        self.loggers = [logging.getLogger(n) for n in ("jax._src.dispatch", "jax._src.interpreters.pxla")]
        self.saved = [(log.level, log.propagate) for log in self.loggers]
        for log in self.loggers:
            log.addHandler(self.handler)
            log.setLevel(logging.WARNING)
            log.propagate = False
        self.flag = jax.config.jax_log_compiles
        jax.config.update("jax_log_compiles", True)
        return self

    def __exit__(self, *exc):
        jax.config.update("jax_log_compiles", self.flag)
        for log, (level, propagate) in zip(self.loggers, self.saved):
            log.removeHandler(self.handler)
            log.setLevel(level)
            log.propagate = propagate


def test_a_second_posterior_of_another_image_compiles_nothing():
    # Each posterior run built its density as new closures, so numpyro's Predictive (2 programs), the
    # MAP's gradient and Adam step, the NUTS loop and the pointwise log-likelihood were compiled anew for
    # every image (6 programs, ~650 memory mappings a call, for good). Now the problem is an argument of
    # module-level compiled functions: another image of the same size compiles nothing.
    import numpy as np

    import domainfit as df
    from domainfit import imaging

    from domainfit.workflows.inputs import read_image

    config = df.PosteriorConfig(chains=2, samples=100, warmup=50, predictive=20)
    image = read_image("example")
    df.estimate(image, posterior=config, key=0, progress=False)
    other = imaging.DomainImage(np.ascontiguousarray(np.asarray(image.data)[::-1, ::-1]), image.pixel_size)
    with _Compilations() as compiled:
        r = df.estimate(other, posterior=config, key=1, progress=False)
    assert r.report["posterior"]["D"]["sd"] > 0
    assert compiled.names == [], compiled.names
