"""Two workflows that no other test runs end to end, held to their reference numbers
(tests/reference_numbers.py). The other three are held where their tests run them:
``estimate example --posterior`` (test_examples: the quickstart), ``compare example``
(test_compare_cli: the shipped sets) and the Ta-wedge series (test_examples)."""

import pytest
from reference_numbers import MC_ERRORS, REFERENCES, Z_MAX, check, same_to_3_digits

import domainfit as df
from domainfit.observations import parse_measurement

SMALL = df.PosteriorConfig(chains=1, samples=100, warmup=100, predictive=0)


def _means(report: dict) -> dict:
    return {k: report["posterior"][k]["mean"] for k in ("D", "sigma", "Ms")}


def test_the_check_refuses_a_fourth_digit_and_a_wrong_name():
    assert same_to_3_digits(0.8237759, 0.8237) and not same_to_3_digits(0.8237759, 0.8250)
    with pytest.raises(AssertionError, match="reference"):
        check("estimate_example_posterior", dict(REFERENCES["estimate_example_posterior"], D=0.83), strict=True)
    with pytest.raises(AssertionError, match="reference 'co-pt'"):
        check("estimate_example_sets_posterior", dict(REFERENCES["estimate_example_sets_posterior"], set="low-ms"),
              strict=False)


def test_in_another_environment_a_number_is_held_to_its_monte_carlo_error():
    ref, err = REFERENCES["estimate_example_posterior"], MC_ERRORS["estimate_example_posterior"]
    assert err["D"] > 0 and err["Ms"] == 0  # D is sampled, Ms is fixed: exact
    near = ref["D"] + 0.9 * Z_MAX * 2**0.5 * err["D"]
    far = ref["D"] + 1.1 * Z_MAX * 2**0.5 * err["D"]
    check("estimate_example_posterior", dict(ref, D=near), strict=False)
    with pytest.raises(AssertionError, match="Monte-Carlo"):
        check("estimate_example_posterior", dict(ref, D=far), strict=False)
    with pytest.raises(AssertionError, match="reference"):
        check("estimate_example_posterior", dict(ref, D=near), strict=True)
    with pytest.raises(AssertionError, match="reference"):
        check("estimate_example_posterior", dict(ref, Ms=ref["Ms"] * 1.01), strict=False)


def test_estimate_with_sets_and_posterior_gives_the_reference_numbers():
    r = df.estimate("example", posterior=SMALL, sets=True, key=3)
    check("estimate_example_sets_posterior", dict(_means(r.report), set=r.report["parameter_set"]["best"]))


def test_two_images_with_dmi_field_and_half_field_give_the_reference_numbers():
    ms = [parse_measurement("dmi_field", "28mT±3mT"), parse_measurement("half_field", "48mT±2mT")]
    r = df.estimate(["example", "example-512"], posterior=SMALL, measurements=ms, key=4)
    check("estimate_two_images_dmi_half_field", _means(r.report))
