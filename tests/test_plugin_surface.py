"""Backends import nothing of edgec but ``edgec.plugin`` (and their own package); it is documented."""

import ast
from pathlib import Path

import pytest

import edgec.plugin

ROOT = Path(__file__).resolve().parent.parent
BACKEND_MODULES = sorted((ROOT / "backends").rglob("*.py")) + sorted(
    (ROOT / "tests/toy_backend").rglob("*.py")
)


def _own_package(path: Path) -> str:
    relative = path.relative_to(ROOT)
    if relative.parts[0] == "backends" and len(relative.parts) > 2:
        return f"edgec.backends.{relative.parts[1]}"
    return "edgec.plugin"  # backends/__init__.py and the toy backend have no edgec package of their own


def _edgec_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return [m for m in modules if m == "edgec" or m.startswith("edgec.")]


@pytest.mark.parametrize("path", BACKEND_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_backend_modules_import_only_the_plugin_surface(path):
    own = _own_package(path)
    stray = [
        m for m in _edgec_imports(path) if m != "edgec.plugin" and m != own and not m.startswith(own + ".")
    ]
    assert not stray, f"{path.relative_to(ROOT)} imports {stray}; import them from edgec.plugin"


def test_the_scan_sees_the_backends():
    assert len(BACKEND_MODULES) > 30
    assert _edgec_imports(ROOT / "backends/tensorrt/backend.py").count("edgec.plugin") == 1


def test_every_name_of_the_surface_exists_and_is_documented():
    doc = edgec.plugin.__doc__ or ""
    for name in edgec.plugin.__all__:
        assert hasattr(edgec.plugin, name), name
        assert f"``{name}``" in doc, f"{name} is not in edgec.plugin's docstring"
