"""studies.sbc_pooled: SBC runs on several held-out datasets joined, with a test that their coverages agree."""

import pytest
from scipy.stats import chi2

from studies.sbc_pooled import agreement, pool


def _run(data_hash: str, inside: list[bool], **settings) -> dict:
    cases = [dict(index=i, family="ideal", parameters={"D": dict(unit="mJ/m^2", truth=0.5, median=0.5 + 0.01 * i, sd=0.1,
                                                              hdi_low=0.3, hdi_high=0.7, inside=ok, r_hat=1.0, rank=i % 100)})
             for i, ok in enumerate(inside)]
    run = dict(set="co-pt", hdi=0.9, chains=4, warmup=500, samples=500, ranks=99, stream=1, data_hash=data_hash, **settings)
    return dict(run=run, info=dict(data=f"/data/{data_hash}"), cases=cases)


def test_agreement_is_the_pearson_chi2_of_the_counts_against_the_pooled_rate():
    same = agreement([(18, 20), (9, 10)])
    assert same["chi2"] == pytest.approx(0.0) and same["p_value"] == pytest.approx(1.0)
    # 10/20 and 20/20: pooled 0.75, (10 − 15)²/3.75 + (20 − 15)²/3.75 = 13.33 on 1 degree of freedom
    split = agreement([(10, 20), (20, 20)])
    assert split["chi2"] == pytest.approx(40 / 3) and split["dof"] == 1
    assert split["p_value"] == pytest.approx(chi2.sf(40 / 3, 1))


def test_pooled_coverage_counts_every_image_once_and_refuses_what_cannot_be_pooled():
    a, b = _run("a", [True] * 9 + [False]), _run("b", [True] * 16 + [False] * 4)
    out = pool([a, b])
    cov = out["summary"]["D"]["hdi_coverage"]
    assert (cov["covered"], cov["n"]) == (25, 30)
    assert [s["summary"]["D"]["hdi_coverage"]["coverage"] for s in out["sets"]] == [0.9, 0.8]
    with pytest.raises(SystemExit, match="same dataset"):
        pool([a, _run("a", [True] * 3)])
    with pytest.raises(SystemExit, match="warmup"):
        other = _run("c", [True] * 3)
        other["run"]["warmup"] = 100
        pool([a, other])


def test_a_missing_run_file_is_a_one_line_error(tmp_path):
    from studies.sbc_pooled import main

    with pytest.raises(SystemExit, match="no such SBC run"):
        main([str(tmp_path / "absent.json")])
