"""studies/joint_observations.py: the simulated second observations and the scoring of the study."""

import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def joint():
    from studies import joint_observations

    return joint_observations


def test_dmi_field_readings_carry_the_stated_errors(joint):
    """Over many films the reading minus the true field has mean 0 and the sd the likelihood assumes,
    √(3 mT² + (7.5 % · H)²); the σ prior's centre is off by 0.01 rms."""
    from domainfit.observations import dmi_field_of

    film = {"D": 0.6e-3, "sigma": 0.12}
    h = dmi_field_of(0.6e-3, **joint.CO_PT)
    reads = np.array([joint.observations_of(film, s)["_read"]["dmi_field_mT"] for s in range(3000)]) * 1e-3
    sd = math.hypot(joint.DMI_READING_T, joint.DELTA_REL * h)
    assert abs(reads.mean() - h) < 4 * sd / math.sqrt(len(reads))
    assert reads.std() == pytest.approx(sd, rel=0.06)
    m = joint.observations_of(film, 7)["image + DMI field"]["measurements"][0]
    assert (m.sd, m.rel_model_sd) == (joint.DMI_READING_T, joint.DELTA_REL)  # the likelihood is told the same errors
    s = np.array([joint.observations_of(film, s)["_read"]["sigma_read"] for s in range(3000)])
    assert s.std() == pytest.approx(joint.SIGMA_PRIOR_SD, rel=0.06)


def test_analysis_scores_known_rows(joint):
    """RMSE, width and coverage on rows made up so that the answer is known."""
    rows = []
    for i, (d, err, half) in enumerate([(0.3e-3, 0.1e-3, 0.05e-3), (0.6e-3, -0.02e-3, 0.05e-3)]):
        sets = {name: {"D": {"mean": d + err, "hdi_low": d + err - half, "hdi_high": d + err + half},
                       "sigma": {"mean": 0.1, "hdi_low": 0.09, "hdi_high": 0.11},
                       "trustworthy": i == 0, "seconds": 10.0} for name in joint.FIRST_PASS}
        rows.append({"film": f"f{i}", "D": d, "sigma": 0.1, "instrument": "mfm", "sets": sets})
    res = joint.analyse(rows)
    v = res["sets"]["image"]
    assert v["D"]["rmse"] == pytest.approx(math.sqrt((0.1**2 + 0.02**2) / 2), rel=1e-9)
    assert v["D"]["hdi90_width"] == pytest.approx(0.1)
    assert v["D"]["covered"] == 1 and v["D"]["coverage90"] == 0.5
    assert v["sigma"]["rmse"] == pytest.approx(0.0) and v["sigma"]["coverage90"] == 1.0
    assert v["untrustworthy"] == 1 and v["sigma_rmse_by_instrument"] == {"mfm": pytest.approx(0.0)}
    assert "3 images + DMI field" not in res["sets"]  # a pass not run is left out, not scored on nothing


def test_make_film_is_the_observation_study_s_demagnetised_state(joint, tmp_path):
    obs = joint._observations_module()
    path = joint.make_film(20000, 64, tmp_path)
    made = np.load(path)
    ref = obs.simulate_film(20000, 64, (20.0,))
    assert (float(made["D"]), float(made["sigma"])) == (ref["D"], ref["sigma"])
    np.testing.assert_array_equal(made["demag_mz"], ref["demag_mz"])
    # another field of view of the same film: same D and σ, another maze; its folder made if missing
    (fov,) = joint.simulate_fovs(path, tmp_path / "fovs" / "new", 2)
    other = np.load(fov)
    assert float(other["D"]) == float(made["D"]) and float(other["sigma"]) == float(made["sigma"])
    assert np.mean(np.sign(other["demag_mz"]) != np.sign(made["demag_mz"])) > 0.2


def test_half_field_readings_carry_the_stated_error(joint):
    """A film with a simulated H½ gets the H½ sets, read with ±2 mT about its own value; a film without a
    curve does not."""
    film = {"D": 0.6e-3, "sigma": 0.12, "h_half_T": 0.05}
    reads = np.array([joint.observations_of(film, s)["_read"]["half_field_mT"] for s in range(3000)])
    assert abs(reads.mean() - 50.0) < 4 * 2.0 / math.sqrt(len(reads))
    assert reads.std() == pytest.approx(joint.HALF_FIELD_READING_T * 1e3, rel=0.06)
    o = joint.observations_of(film, 3)
    kinds = [m.kind for m in o["image + DMI field + H½"]["measurements"]]
    assert kinds == ["dmi_field", "half_field"] and o["image + H½"]["measurements"][0].sd == joint.HALF_FIELD_READING_T
    assert "image + H½" not in joint.observations_of({"D": 0.6e-3, "sigma": 0.12}, 3)


def test_a_pass_with_other_sets_is_not_skipped(joint, tmp_path):
    """Two H½ passes share a cache file: a film done for one set is still to do for the other."""
    import json

    cache = tmp_path / "rows-half-0of1.jsonl"
    cache.write_text(json.dumps({"film": "a", "sets": {"image + DMI field + H½": {}}}) + "\n"
                     + json.dumps({"film": "b", "sets": {"image + H½": {}, "image + DMI field + H½": {}}}) + "\n")
    assert joint.films_done(cache, ["image + H½"]) == {"b"}
    assert joint.films_done(cache, ["image + DMI field + H½"]) == {"a", "b"}
    assert joint.films_done(tmp_path / "none.jsonl", ["image"]) == set()


def test_shards_split_films_by_seed_whatever_the_folder_holds(joint, tmp_path):
    """Two shards that list the folder at different moments (one film not yet written) still share the
    films out without a gap: each film belongs to the shard of its seed."""
    names = [tmp_path / f"film-512-{s}.npz" for s in range(22000, 22040)]
    early = [p for p in names if p.name != "film-512-22037.npz"]  # one shard listed before 22037 was written
    got = joint.shard(early, 0, 2) + joint.shard(names, 1, 2)
    assert sorted(got) == sorted(names)
    assert all(int(p.stem[-1]) % 2 == 0 for p in joint.shard(names, 0, 2))
