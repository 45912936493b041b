"""Notices: the messages a person reads, each with a code that programs branch on.

A ``Notice`` is the text itself (a ``str``: it prints, joins and serialises to JSON as the message)
with a ``code`` beside it, so that code asks ``notice.code == NO_WALLS`` and never looks at wording.
"""

from __future__ import annotations

NO_WALLS = "no_walls"
"""The image shows no domain walls: its statistics carry nothing, only their absence is data."""


class Notice(str):
    """A message with a machine-readable ``code`` (one of this module's constants)."""

    code: str

    def __new__(cls, code: str, text: str) -> "Notice":
        self = super().__new__(cls, text)
        self.code = code
        return self

    def __reduce__(self):
        return (Notice, (self.code, str(self)))

    def __repr__(self) -> str:
        return f"Notice({self.code!r}, {str(self)!r})"


def code_of(message) -> str | None:
    """The code of a ``Notice``; None for a plain message."""
    return getattr(message, "code", None)
