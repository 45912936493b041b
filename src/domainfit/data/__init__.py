"""Training data: prior boxes, resumable chunked generation, the dataset reader, augmentation."""

from .augment import augment as augment, crop_centred as crop_centred, dihedral as dihedral, place_centred as place_centred
from .generate import (
    GenerateConfig as GenerateConfig,
    GenerateReport as GenerateReport,
    generate as generate,
    parse_shard as parse_shard,
)
from .prior import (
    PARAMETERS as PARAMETERS,
    PriorBox as PriorBox,
    PriorComponent as PriorComponent,
    preset_prior as preset_prior,
    sample_seeds as sample_seeds,
    with_bounds as with_bounds,
)
from .store import Dataset as Dataset
