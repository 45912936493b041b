"""The CNN estimator: model, training, checkpoints, estimation on any image (with its support
checks), evaluation on stored and on instrument-recorded images."""

from .calibrate import calibrate_spread as calibrate_spread
from .checkpoint import (
    LoadedModel as LoadedModel,
    emulator_path as emulator_path,
    emulator_paths as emulator_paths,
    load_default as load_default,
    load_model as load_model,
    save_model as save_model,
)
from .estimate import Estimate as Estimate, Reading as Reading, estimate as estimate, reading_of as reading_of
from .evaluate import evaluate as evaluate, select_rows as select_rows
from .model import CNN as CNN, forward as forward, make_model as make_model, predict as predict
from .recorded import Readings as Readings, recorded_readings as recorded_readings
from .support import UNTRUSTWORTHY_EXIT as UNTRUSTWORTHY_EXIT
from .train import TrainConfig as TrainConfig, TrainReport as TrainReport, train as train
