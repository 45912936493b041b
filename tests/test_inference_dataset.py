"""The amortised emulator fitted from a dataset store, with the real summary statistics."""

import jax
import numpy as np

from domainfit.data.store import init_store, write_chunk
from domainfit import surrogate


def test_emulator_from_dataset_store(tmp_path):
    rng = np.random.default_rng(0)
    n, px, size = 40, 4e-9, 64
    D = rng.uniform(0.1e-3, 1.0e-3, n)
    period = 40e-9 + 60e-9 * (1e-3 - D) / 0.9e-3  # a stand-in trend: period falls as D grows
    x = (np.arange(size) + 0.5) * px
    phase = rng.uniform(0, 2 * np.pi, n)
    images = np.tanh(3 * np.cos(2 * np.pi * x[None, None, :] / period[:, None, None] + phase[:, None, None]))
    images = np.broadcast_to(images, (n, size, size)).astype(np.float32)
    params = np.column_stack([D, np.full(n, 1.5e6), np.full(n, 0.1), np.full(n, 1.6e6), np.full(n, 31e-12)])
    identity = {"count": n, "chunk_size": n, "grid": {"nx": size, "ny": size, "cell_size": px, "thickness": px},
                "imaging": {"pixel_size": px}}
    init_store(tmp_path, identity)
    write_chunk(tmp_path, 0, dict(index=np.arange(n), seed=np.arange(n), params=params, component=np.zeros(n, np.int8),
                                  steps=np.ones(n, np.int32), converged=np.ones(n, bool),
                                  max_torque=np.zeros(n, np.float32), energy=np.zeros(n), image=images))
    emu = surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0))
    assert emu.names == ("D",) and emu.area == (size * px) ** 2
    assert emu.stat_names[0] == "period" and len(emu.stat_names) == 5
    lo, hi = (float(emu.predict({"D": d})[0][0]) for d in (0.2e-3, 0.9e-3))
    assert lo > hi  # the fitted period statistic follows the trend in the data
    # every stripe image shows walls: the presence model has all of them, the statistics too
    assert emu.presence is not None and emu.presence.n_views == n == emu.presence.n_walls
    assert emu.error_report["n_train"] == n
    # a uniform film among them (a stored image of one sign and grain-scale texture) enters p_w only
    images[3] = 0.999 + 1e-4 * rng.standard_normal((size, size))
    write_chunk(tmp_path, 0, dict(index=np.arange(n), seed=np.arange(n), params=params, component=np.zeros(n, np.int8),
                                  steps=np.ones(n, np.int32), converged=np.ones(n, bool),
                                  max_torque=np.zeros(n, np.float32), energy=np.zeros(n), image=images))
    emu = surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0))
    assert (emu.presence.n_views, emu.presence.n_walls, emu.error_report["n_train"]) == (n, n - 1, n - 1)
    # rows= holds states out (the first 24 only)
    part = surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0), rows=np.arange(24))
    assert (part.presence.n_views, part.error_report["n_train"]) == (24, 23)


def test_a_mixed_dataset_gets_one_emulator_per_prior_component(tmp_path):
    # Two disjoint boxes (like --preset mix): the period follows D in "a" and Ms in "b". One polynomial
    # across both would fit nothing in between, so a component must be named, and each emulator's
    # inputs are the parameters varying inside its own box.
    import pytest

    from domainfit.data.prior import preset_prior
    from domainfit.errors import DomainfitError

    rng = np.random.default_rng(1)
    n, px, size = 80, 4e-9, 64
    comp = (np.arange(n) % 2).astype(np.int8)
    D = np.where(comp == 0, rng.uniform(0.1e-3, 1.0e-3, n), 0.0)
    Ms = np.where(comp == 0, 1.5e6, rng.uniform(200e3, 700e3, n))
    t = np.where(comp == 0, (1e-3 - D) / 0.9e-3, (Ms - 200e3) / 500e3)
    period = 40e-9 + 60e-9 * t
    x = (np.arange(size) + 0.5) * px
    images = np.tanh(3 * np.cos(2 * np.pi * x[None, None, :] / period[:, None, None] + rng.uniform(0, 6, n)[:, None, None]))
    images = np.broadcast_to(images, (n, size, size)).astype(np.float32)
    params = np.column_stack([D, Ms, rng.uniform(0.05, 0.2, n), np.where(comp == 0, 1.6e6, 0.4e6),
                              np.where(comp == 0, 31e-12, 10e-12)])
    identity = {"count": n, "chunk_size": n, "grid": {"nx": size, "ny": size, "cell_size": px, "thickness": px},
                "imaging": {"pixel_size": px}, "prior": preset_prior("mix").to_json()}
    init_store(tmp_path, identity)
    write_chunk(tmp_path, 0, dict(index=np.arange(n), seed=np.arange(n), params=params, component=comp,
                                  steps=np.ones(n, np.int32), converged=np.ones(n, bool),
                                  max_torque=np.zeros(n, np.float32), energy=np.zeros(n), image=images))
    with pytest.raises(DomainfitError, match="co-pt, low-ms"):
        surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0))
    a = surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0), component="co-pt")
    b = surrogate.emulator_from_dataset(tmp_path, degree=2, degree_var=1, key=jax.random.key(0), component="low-ms")
    assert a.names == ("D", "sigma") and b.names == ("Ms", "sigma")
    assert a.error_report["constants"]["Ms"] == 1.5e6 and b.error_report["constants"]["D"] == 0.0
    assert a.error_report["n_train"] == b.error_report["n_train"] == n // 2
    # Each follows its own trend: the period falls with D in "a" and rises with Ms in "b".
    pa = [float(a.predict({"D": d, "sigma": 0.1})[0][0]) for d in (0.2e-3, 0.9e-3)]
    pb = [float(b.predict({"Ms": m, "sigma": 0.1})[0][0]) for m in (250e3, 650e3)]
    assert pa[0] > pa[1] and pb[0] < pb[1]

    from domainfit.workflows.setup import choose_emulator

    assert choose_emulator({"D": 0.5e-3, "Ms": 1.49e6, "sigma": 0.1}, {"D": 1e-4, "Ms": 3e4, "sigma": 0.02}, [a, b]) == 0
    assert choose_emulator({"D": 0.02e-3, "Ms": 420e3, "sigma": 0.1}, {"D": 1e-4, "Ms": 3e4, "sigma": 0.02}, [a, b]) == 1
    # The emulators' boxes are the prior's boxes, not the range the samples happened to span (the
    # default prior of estimate: a film at the prior's edge must keep its support); the first test's
    # store records no prior and keeps the samples' range.
    assert a.box == {"D": pytest.approx((0.1e-3, 1.0e-3)), "sigma": pytest.approx((0.05, 0.2))}
    assert b.box == {"Ms": pytest.approx((200e3, 700e3)), "sigma": pytest.approx((0.05, 0.2))}


def test_an_emulator_re_expressed_on_another_box_predicts_the_same():
    """with_box: mean, covariance and V_μ unchanged at random θ, box and default prior moved."""
    import pytest

    from domainfit.errors import DomainfitError

    rng = np.random.default_rng(2)
    theta = np.column_stack([rng.uniform(0.12e-3, 0.97e-3, 200), rng.uniform(0.06, 0.19, 200)])
    s = np.column_stack([theta[:, 0] * 1e3 + 3 * theta[:, 1] ** 2 + rng.normal(0, 0.05 + 0.1 * theta[:, 1], 200),
                         theta[:, 1] + rng.normal(0, 0.01, 200)])
    emu = surrogate.fit_emulator(theta, s, names=("D", "sigma"), area=1e-12, degree=3, degree_var=2, key=jax.random.key(1))
    wide = emu.with_box({"D": (0.1e-3, 1.0e-3), "sigma": (0.05, 0.2)})
    assert wide.box == {"D": pytest.approx((0.1e-3, 1.0e-3)), "sigma": pytest.approx((0.05, 0.2))}
    for t in theta[:5]:
        th = {"D": float(t[0]), "sigma": float(t[1])}
        for a, b in zip(emu.predict(th), wide.predict(th)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=1e-9)
    with pytest.raises(DomainfitError, match="every input"):
        emu.with_box({"D": (0.1e-3, 1.0e-3)})
