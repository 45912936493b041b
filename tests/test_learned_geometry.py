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
from domainfit.inference.learned import GEOMETRY_NAMES, recorded_cnn_statistics, summary_with_cnn
from domainfit.inference.presence import shows_walls
from domainfit.nn import estimate, load_default
from domainfit.nn.recorded import _STREAM

from nn_helpers import write_synthetic_dataset


def test_training_views_and_a_users_image_give_the_same_statistics(tmp_path):
    loaded = load_default()
    ds = Dataset(write_synthetic_dataset(tmp_path / "d", count=4, pixels=256, preset="co-pt", mz=True, chunk=4))
    rows = np.arange(3)
    names, values, params, area, walls = recorded_cnn_statistics(loaded, ds, rows, draws=2, seed=5, geometry=True)
    assert names == ("cnn_D", "cnn_sigma") + GEOMETRY_NAMES and values.shape == (6, 4)
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
