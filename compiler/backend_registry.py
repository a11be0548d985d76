"""The installed backends: entry points in the group ``edgec.backends``, loaded on demand.

The core reaches backends only through here (and their hooks in
``edgec.backend_protocol``); it imports no backend package.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from edgec.errors import TargetError

if TYPE_CHECKING:
    from edgec.backend_protocol import Backend
    from edgec.targets import Schema

GROUP = "edgec.backends"


def available() -> dict[str, Callable[[], Backend]]:
    """Installed backends by name; loading one imports its package."""
    return {ep.name: ep.load for ep in entry_points(group=GROUP)}


def load(name: str, target_name: str) -> Backend:
    loaders = available()
    if name not in loaders:
        installed = ", ".join(sorted(loaders)) or "none"
        raise TargetError(
            f"target '{target_name}' needs the backend '{name}', which is not installed "
            f"(installed backends: {installed}). Choose a target served by an installed backend "
            f"(`edgec targets` lists them) or install the backend's package."
        )
    try:
        return loaders[name]()
    except ModuleNotFoundError as exc:
        raise missing_dependency(name, target_name, exc) from exc


@cache
def loadable() -> dict[str, Backend]:
    """Every installed backend whose package imports here, by name (once per process).

    A backend whose package needs a module that is missing is left out: its
    flags are not offered and its targets fail with ``load``'s message.
    """
    found: dict[str, Backend] = {}
    for name, loader in sorted(available().items()):
        try:
            found[name] = loader()
        except ModuleNotFoundError:
            continue
    return found


def hardware_schema(backend: str, family: str) -> Schema | None:
    """The ``[hardware]`` schema ``backend`` declares for ``family`` (None: not installed or free-form)."""
    loaded = loadable().get(backend)
    return None if loaded is None else loaded.hardware_schemas.get(family)


def missing_dependency(name: str, target_name: str, exc: ModuleNotFoundError) -> TargetError:
    """The backend's extra is not installed: exit 6 with the command that installs it."""
    return TargetError(
        f"target '{target_name}' needs the '{name}' backend's Python package '{exc.name or exc}', which is "
        f"not installed. Install the backend's extra: pip install 'edgec[{name}]'"
    )
