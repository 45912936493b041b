"""The instrument families, named once (no numerical import: the command line reads them at start-up).

Each family's model is in ``imaging`` and the ranges of its settings in ``data.instruments``; the
``binary`` family is the bound that training's binarised views set, never an instrument a user names.
"""

FAMILIES: tuple[str, ...] = ("ideal", "gaussian", "mfm", "probe", "lorentzian", "kerr", "binary")
"""Every instrument family of the imaging model."""

USER_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f != "binary")
"""The families a user can name (``--instrument``)."""
