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
