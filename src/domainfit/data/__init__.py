"""Training data: prior boxes, resumable chunked generation, the dataset reader, augmentation,
instrument distributions and instrument-rendered views."""

from .augment import (
    augment as augment,
    crop_centred as crop_centred,
    dihedral as dihedral,
    place_centred as place_centred,
)
from .generate import (
    GenerateConfig as GenerateConfig,
    GenerateReport as GenerateReport,
    generate as generate,
    parse_shard as parse_shard,
)
from .instruments import (
    BINARY as BINARY_INSTRUMENTS,
    FAMILIES as INSTRUMENT_FAMILIES,
    TRAINING as TRAINING_INSTRUMENTS,
    InstrumentPrior as InstrumentPrior,
    draw_instrument as draw_instrument,
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
from .views import recorded as recorded, render_pool as render_pool
