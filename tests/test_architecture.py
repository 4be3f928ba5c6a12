"""The layers of docs/ARCHITECTURE.md, enforced: each module imports only what its layer may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance.paths import PACKAGE_DIR

LAYER0 = {"vocabulary", "paths", "redact", "sse", "yamlfile"}
ALLOWED: dict[str, set[str]] = {
    "vocabulary": set(),
    "paths": set(),
    "redact": set(),
    "sse": set(),
    "yamlfile": set(),
    "openapi": {"paths"},
    "profiles": LAYER0,
    "options": LAYER0,
    "expectations": LAYER0,
    "settings": LAYER0 | {"profiles", "options", "expectations"},
    "propspec": LAYER0 | {"openapi", "profiles"},
    "transport": LAYER0 | {"transport"},
    "checks": LAYER0 | {"openapi", "profiles", "settings", "transport", "checks"},
    "cases": LAYER0 | {"profiles", "transport", "cases"},
    "runner": LAYER0 | {"openapi", "profiles", "settings", "transport", "checks", "cases"},
    "property_run": LAYER0 | {"openapi", "profiles", "propspec", "settings", "transport", "checks", "runner"},
    "survey": LAYER0 | {"openapi", "profiles", "settings", "transport", "cases", "checks", "runner"},
    "ahead": LAYER0,
    "plan": LAYER0 | {"openapi", "profiles", "propspec", "settings", "cases", "runner"},
    "report": LAYER0 | {"__init__", "report"},
    "preflight": LAYER0 | {"settings", "profiles"},
    "fixtures_server": LAYER0,
    "s3": LAYER0 | {"settings"},
    "embedded": LAYER0 | {"settings", "server", "s3"},
    "plugin": LAYER0 | {"openapi", "profiles", "options", "expectations", "propspec", "settings", "transport", "checks", "cases", "runner", "property_run", "plan", "ahead", "report", "preflight", "embedded", "fixtures_server"},
    "cli": LAYER0 | {"__init__", "report", "profiles", "options", "expectations", "checks", "settings", "preflight", "embedded", "server", "survey", "plan", "transport", "fixtures_server"},
    "__main__": {"cli"},
    "__init__": set(),
    "server": {"server"},
    "suite": set(),
}


def _modules():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] == "_data":
            continue
        yield rel


def _internal_imports(rel: Path) -> set[str]:
    """Top-level conformance submodules imported by the file (relative or absolute)."""
    tree = ast.parse((PACKAGE_DIR / rel).read_text())
    package_parts = ["conformance", *rel.parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if len(target) == 1:  # `from .. import x`: a submodule, or a name from __init__
                    for alias in node.names:
                        is_module = (PACKAGE_DIR / alias.name).is_dir() or (PACKAGE_DIR / f"{alias.name}.py").exists()
                        found.add(alias.name if is_module else "__init__")
                else:
                    found.add(target[1])
            elif node.module and node.module.split(".")[0] == "conformance":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "conformance":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


@pytest.mark.parametrize("rel", list(_modules()), ids=str)
def test_module_respects_its_layer(rel):
    owner = rel.parts[0].removesuffix(".py")
    assert owner in ALLOWED, f"{rel}: add its layer to docs/ARCHITECTURE.md and this table"
    imported = _internal_imports(rel) - {owner}
    forbidden = imported - ALLOWED[owner]
    assert not forbidden, f"{rel} imports {sorted(forbidden)}, which its layer may not"
