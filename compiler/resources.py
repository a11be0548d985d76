"""Files that ship with edgec: templates/ and targets.toml.

In an installed wheel they sit inside the package (edgec/templates,
edgec/targets.toml); in a source checkout (editable install) they sit at the
top level beside compiler/.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    for base in (_PACKAGE, _PACKAGE.parent):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"edgec's data file '{name}' is missing from the installation ({_PACKAGE})")
