"""The end of a resumable study: its summary printed, and written with every item and the command."""

from __future__ import annotations

import json
import sys


def write_summary(summary: dict, key: str, items: list, module: str, argv, path) -> int:
    """Print ``summary``; with ``path`` write {summary, key: items, command} there atomically; return 0."""
    from domainfit._files import atomic_write

    out = {"summary": summary, key: items,
           "command": f"python -m {module} " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(json.dumps(summary, indent=1))
    if path:
        atomic_write(path, json.dumps(out, indent=1, default=float))
    return 0


def print_and_write(out: dict, path, shown: dict | None = None, *, show: bool = True) -> dict:
    """Print ``shown`` (default ``out``) as JSON unless not ``show``, and with ``path`` write ``out`` there
    atomically."""
    import json

    if show:
        print(json.dumps(out if shown is None else shown, indent=1))
    if path:
        from domainfit._files import atomic_write

        atomic_write(path, json.dumps(out, indent=1))
    return out
