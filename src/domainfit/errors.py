"""The one domain exception of domainfit.

Its message is written for a physicist and fits on one line; the CLI prints it and exits with 2.
"""


class DomainfitError(ValueError):
    """Bad input or an impossible request, with a message that says what to change."""


UNTRUSTWORTHY_EXIT = 3
"""Exit code of ``domainfit estimate`` when the result carries ``trustworthy: false``."""
