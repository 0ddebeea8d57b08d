"""Results files: writing one (``jsonable``) and reading it back, for the scripts that rewrite a report
from its json.

JSON turns the integer keys of a report (sizes in px, batch sizes, k) into strings; ``int_keys``
turns them back, so that a report written again from its json sees what the measuring run saw.
"""
from __future__ import annotations

import json
from pathlib import Path


def jsonable(value):
    """``value`` with every dict key a string and tuples as lists, as ``json.dumps`` writes it.

    Example:
        >>> jsonable({64: (1, 2)})
        {'64': [1, 2]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def int_keys(obj: dict) -> dict:
    """JSON object hook: digit-string keys (sizes, batch sizes, k) back to ints.

    Example:
        >>> json.loads('{"64": {"top1": 78.75}, "sizes": [64]}', object_hook=int_keys)
        {64: {'top1': 78.75}, 'sizes': [64]}
    """
    return {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in obj.items()}


def read_results(path: str | Path, writer: str, required: tuple[str, ...] = ()) -> dict:
    """A results json with its integer keys restored.

    Args:
        path: the json a script wrote beside its report.
        writer: the script that writes such files, named in the error.
        required: top-level keys the file must have.

    Raises:
        SystemExit: the file is missing, not json, or lacks a required key (naming the file and the key).
    """
    try:
        data = json.loads(Path(path).read_text(), object_hook=int_keys)
    except (OSError, ValueError) as error:
        raise SystemExit(f'{path}: not a results json written by {writer} ({error})') from None
    missing = [key for key in required if not isinstance(data, dict) or key not in data]
    if missing:
        raise SystemExit(f'{path}: not a results json written by {writer} (no {", ".join(map(repr, missing))})')
    return data
