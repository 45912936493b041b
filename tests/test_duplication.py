"""Tiled or periodic copies of an image are flagged (issue 34): they hold no more information than one
tile, while the intervals narrow with the field of view (the example tiled 2×2 moved D's 90 % interval
off the truth; 15×15 gave σ to 20 sd off)."""

import jax
import numpy as np
import pytest

from domainfit.cli import main
from domainfit.features.duplication import DUPLICATED, MATCH, duplication_notices, self_match
from domainfit.imaging import Instrument, example_path, load, record
from domainfit.notices import code_of

EXAMPLE = np.load(example_path("example"))["image"]


@pytest.mark.parametrize("tiles, crop", [((2, 2), None), ((4, 4), None), ((15, 15), None), ((3, 3), (255, 253)),
                                         ((2, 3), (200, 170))])
def test_copies_of_a_maze_match_themselves_at_the_tile_shift(tiles, crop):
    tile = EXAMPLE if crop is None else EXAMPLE[: crop[0], : crop[1]]
    image = np.tile(tile, tiles)[5:, 3:]  # cut off at an arbitrary place: still copies
    r, (dy, dx) = self_match(image)
    assert r > 0.99
    assert dy % tile.shape[0] == 0 and dx % tile.shape[1] == 0 and (dy, dx) != (0, 0)
    notes = duplication_notices(image)
    assert len(notes) == 1 and code_of(notes[0]) == DUPLICATED and "repeats itself" in notes[0]


def test_relaxed_mazes_as_instruments_record_them_are_not_copies():
    mz = jax.numpy.asarray(np.load(example_path("example"))["image"])
    images = [EXAMPLE, load("example-512").data]
    for k, inst in enumerate((Instrument(psf="gaussian", resolution=20e-9, noise=0.2, bits=8, pixel_size=8e-9),
                              Instrument(transfer="mfm", height=20e-9, noise=0.1, pixel_size=8e-9),
                              Instrument(saturation=np.inf, pixel_size=8e-9))):
        images.append(np.asarray(record(mz, 8e-9, inst, thickness=4e-9, key=jax.random.key(k))))
    for image in images:
        r, _ = self_match(image)
        assert r < 0.5 < MATCH and duplication_notices(image) == []


def test_estimate_of_a_tiled_example_is_flagged_with_the_reason_first(tmp_path, capsys):
    np.save(tmp_path / "tiled.npy", np.tile(EXAMPLE, (2, 2)))
    code = main(["estimate", str(tmp_path / "tiled.npy"), "--pixel-size", "8nm"])
    out = capsys.readouterr().out.splitlines()
    assert code == 3
    assert out[0].startswith("NOT TRUSTWORTHY") and "repeats itself" in out[1]
