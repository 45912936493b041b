"""benchmarks/relax.py at a tiny size: both minimisers on the same seeds, the cache and its keys."""


import pytest

from domainfit.physics.relax import BB, PBB



def test_cache_key_names_every_setting_defaults_included():
    # repr() leaves out defaults: when PBB's default length and field changed, a cache keyed by
    # repr ("PBB()") served the old default's results as the new one's (3 Dec 2026).
    from benchmarks.relax import describe

    assert repr(PBB()) == "PBB()"
    text = describe(PBB())
    assert "length=None" in text and "field='spectral'" in text and "switch=0.5" in text
    assert "field='terms'" in describe(BB())
    assert describe(PBB()) != describe(PBB(field="terms")) != describe(PBB(length=16e-9))


def test_benchmark_runs_both_minimisers_and_resumes_from_its_cache(tmp_path, capsys):
    from benchmarks.relax import main

    args = ["--seeds", "2", "--cells", "32", "--presets", "co-pt", "--tol", "1e-2", "--cache", str(tmp_path / "c"),
            "--json", str(tmp_path / "out.json")]
    report = main(args)
    entry = report["presets"]["co-pt"]
    assert len(entry["old"]) == len(entry["new"]) == 2
    assert all(r["converged"] for r in entry["old"] + entry["new"])
    assert entry["new"][0]["minimiser"].startswith("PBB(length=None")
    again = main(args)
    assert all(r.get("cached") for r in again["presets"]["co-pt"]["old"] + again["presets"]["co-pt"]["new"])
    # another setting of the new minimiser is not served from the cache
    other = main(args[:-2] + ["--new", "PBB(field='terms')"])
    assert not any(r.get("cached") for r in other["presets"]["co-pt"]["new"])
    assert all(r.get("cached") for r in other["presets"]["co-pt"]["old"])


def test_period_is_compared_on_films_with_walls_only():
    # a uniform film has no period (nan from one minimiser, a noise value from the other): it made the
    # low-ms comparison nan (3 Dec 2026)
    from benchmarks.relax import compare

    def row(walls, period, steps=10):
        return {"steps": steps, "seconds": 1.0, "converged": True, "wall_density_per_um": walls,
                "period_nm": period, "abs_mean_mz": 0.1}

    old = [row(1.0, 1500.0), row(0.0, float("nan")), row(1.2, 1400.0), row(0.9, 1700.0)]
    new = [row(1.0, 1510.0), row(0.0, 8.3), row(1.2, 1390.0), row(0.9, 1705.0)]
    c = compare(old, new)
    assert c["period_nm"]["n"] == 3
    assert c["period_nm"]["old_mean"] == pytest.approx(1533.333, rel=1e-5)
    assert c["period_nm"]["new_mean"] == pytest.approx(1535.0, rel=1e-6)
    assert c["wall_density_per_um"]["n"] == 4
