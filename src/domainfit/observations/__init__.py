"""Scalar measurements of a film beside its images (DMI field, H½, a value with its error) and series of
films along a coordinate (docs/observations.md)."""

from .half_field import HalfFieldModel as HalfFieldModel
from .measurements import (
    JointLikelihood as JointLikelihood,
    Measurement as Measurement,
    dmi_field_of as dmi_field_of,
    parse_measurement as parse_measurement,
)
