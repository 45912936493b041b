"""The parameters and presets are defined once (parameters.py) and every layer reads the same ones."""

import math

import pytest

from domainfit import parameters, units
from domainfit.data.prior import PARAMETERS as DATA_ORDER, preset_prior
from domainfit.inference import PARAMETERS as INFERENCE_PARAMETERS, default_priors
from domainfit.physics import PRESET_DMI, PRESETS, make_material


@pytest.mark.parametrize("name", list(parameters.PRESETS))
def test_each_layer_reads_the_preset_from_one_place(name):
    preset = parameters.PRESETS[name]
    # training data draw from the set's box
    assert preset_prior(name).ranges() == preset.box
    # the posterior's default prior frees what the box lets vary and holds the rest at the box's value
    priors = default_priors(name)
    assert {n for n, p in priors.items() if not p.fixed} == set(preset.free())
    for n, value in preset.fixed().items():
        assert priors[n].fixed and priors[n].value == value
    for n, (lo, hi) in preset.free().items():
        assert (float(priors[n].dist.low), float(priors[n].dist.high)) == (lo, hi)
    # the simulator's reference film of the set lies in its box, with the set's DMI kind
    material = make_material(name)
    assert PRESET_DMI[name] == preset.dmi and PRESETS[name] == preset.reference
    for n in parameters.MATERIAL:
        lo, hi = preset.box[n]
        assert lo <= preset.reference[n] <= hi, (name, n)
        assert float(getattr(material, n)) == pytest.approx(preset.reference[n], rel=1e-6)  # float32 leaves


def test_units_and_order_come_from_parameters():
    assert DATA_ORDER == parameters.MATERIAL
    assert set(INFERENCE_PARAMETERS) == set(parameters.SI_UNITS)
    assert units.PARAMETER_UNITS is parameters.USER
    # a value in the user unit times the factor is the SI value: 1 mJ/m² = 1e-3 J/m², 1 kA/m = 1e3 A/m
    assert math.isclose(units.parse_quantity("D", "1mJ/m2"), 1e-3) and math.isclose(units.parse_quantity("Ms", "1kA/m"), 1e3)
    assert units.USER_UNITS["length"] == parameters.USER["thickness"] == ("nm", 1e-9)


def test_the_instrument_families_are_named_once():
    from domainfit.cli.estimate import INSTRUMENT_CHOICES
    from domainfit.data.instruments import FAMILIES, FAMILY_RANGES
    from domainfit.families import FAMILIES as NAMED, USER_FAMILIES
    from domainfit.workflows.inputs import INSTRUMENTS

    assert tuple(FAMILY_RANGES) == NAMED == FAMILIES  # every family has its settings' ranges
    assert INSTRUMENTS == INSTRUMENT_CHOICES == USER_FAMILIES == tuple(f for f in NAMED if f != "binary")
