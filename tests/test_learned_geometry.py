"""Statistics of recorded training views and of a user's image are the same function of the image:
the CNN's estimates and the geometry of the sign (``learned.GEOMETRY_NAMES``), and whether it shows
walls (``presence.shows_walls``), recomputed here from the recording by ``nn.estimate`` as ``compare``
and ``estimate --posterior`` compute them."""

import numpy as np
import pytest

from domainfit import DomainfitError
from domainfit.data.instruments import draw_instrument
from domainfit.data.store import Dataset
from domainfit.data.views import recorded
from domainfit.surrogate.learned import GEOMETRIES, recorded_cnn_statistics, summary_with_cnn
from domainfit.features.walls import shows_walls
from domainfit.nn import estimate, load_default
from domainfit.nn.recorded import _STREAM

from nn_helpers import write_synthetic_dataset


@pytest.mark.parametrize("geometry", [True, "domains"])
def test_training_views_and_a_users_image_give_the_same_statistics(tmp_path, geometry):
    loaded = load_default()
    ds = Dataset(write_synthetic_dataset(tmp_path / "d", count=4, pixels=256, preset="co-pt", mz=True, chunk=4))
    rows = np.arange(3)
    names, values, params, area, walls = recorded_cnn_statistics(loaded, ds, rows, draws=2, seed=5, geometry=geometry)
    kind = "sign" if geometry is True else geometry
    assert names == ("cnn_D", "cnn_sigma") + GEOMETRIES[kind] and values.shape == (6, 4)
    cell, thickness = float(ds.grid["cell_size"]), float(ds.grid["thickness"])
    for k, (r, j) in enumerate([(r, j) for r in rows for j in range(2)]):
        s = [5, _STREAM, int(ds.index[r]), j]
        inst = draw_instrument(loaded.instruments, np.random.default_rng(s))
        u = recorded(np.asarray(ds.mz([r])[0], np.float32), cell, thickness, inst, s + [1])
        est = estimate(loaded, u, inst.pixel_size)
        mine = np.asarray(summary_with_cnn(est.mean, names, support=est.support)(u, inst.pixel_size))
        np.testing.assert_allclose(mine, values[k], rtol=1e-5, atol=1e-6)
        assert walls[k] == shows_walls(u)
        np.testing.assert_array_equal(params[k], ds.params[r])
    # the period is a log10 in µm, the wall density per µm: O(1) numbers beside the CNN's
    assert np.all(np.abs(values[:, 2]) < 2) and np.all(values[:, 3] > 0)
    with pytest.raises(DomainfitError, match="support"):
        summary_with_cnn(est.mean, names)
    with pytest.raises(DomainfitError, match="geometry 'edges'"):
        recorded_cnn_statistics(loaded, ds, rows, draws=1, seed=5, geometry="edges")


def test_a_uniform_state_recorded_without_noise_is_a_view_without_walls(tmp_path):
    """A relaxed uniform low-ms state is exactly constant; recorded cleanly its view is constant too.
    Reading such a training view raised ("image is constant") and stopped the emulator fit; it is a
    view without walls, with no statistics."""
    import h5py

    from domainfit.data.instruments import CLEAN
    from domainfit.nn.recorded import recorded_readings

    root = write_synthetic_dataset(tmp_path / "d", count=4, pixels=128, preset="co-pt", mz=True, chunk=4)
    chunk = next(root.glob("chunk-*.h5"))
    with h5py.File(chunk, "r+") as f:
        f["mz"][1] = np.ones((128, 128), np.float16)
    ds = Dataset(root)
    r = recorded_readings(load_default(), ds, np.arange(4), prior=CLEAN)
    assert r.walls.tolist() == [True, False, True, True]
    assert np.isnan(r.mean[1]).all() and np.isfinite(r.mean[[0, 2, 3]]).all()
    assert r.features.shape[0] == 4 and np.isnan(r.features[1]).all() and np.isfinite(r.features[0]).all()
