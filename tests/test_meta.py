"""Meta-tests over the suite's data and registries: cases, checks, faults, profiles, vocabulary, module hygiene."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from conformance.cases import CASE_FILES, CASES_DIR, all_cases, static_cases
from conformance.property_run import CHECK_BY_MODE
from conformance.checks import load_all
from conformance.paths import PACKAGE_DIR, profiles_dir
from conformance.profiles import load_profile
from conformance.vocabulary import CAPABILITIES, ENDPOINTS, FEATURES, TRANSPORTS
from tests.faulty import FAULTS, load_faults

load_faults()

CHECKS = load_all()
SCALEWAY = load_profile("scaleway")
CASES = all_cases(SCALEWAY)
CASE_SCHEMA = json.loads((PACKAGE_DIR / "schemas" / "case.schema.json").read_text())
PROFILE_SCHEMA = json.loads((PACKAGE_DIR / "schemas" / "profile.schema.json").read_text())
PROFILE_FILES = sorted(profiles_dir().glob("*.yaml"))
UNSUPPORTED_VALUES = yaml.safe_load((CASES_DIR / "unsupported_values.yaml").read_text())
MODULES = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "_data" not in p.relative_to(PACKAGE_DIR).parts)
SERVER_MODULES = sorted((PACKAGE_DIR / "server").rglob("*.py"))
#: Checks a case names, and the two the property-based runs apply to every generated request.
USED_CHECKS = {name for case in CASES for name, _ in case.checks} | set(CHECK_BY_MODE.values())
BROKEN_BY_FAULTS = {check for f in FAULTS.values() for check in f.breaks}

#: Checks no fault in tests/faulty breaks yet (a gap there, documented as a strict xfail).
UNBROKEN_KNOWN: dict[str, str] = {}


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE_DIR.parent))


# -- case files ----------------------------------------------------------------------------------
def test_case_schema_is_a_valid_schema():
    Draft202012Validator.check_schema(CASE_SCHEMA)


def test_case_files_are_the_yaml_files_beside_the_loader_except_generator_tables():
    assert "unsupported_values.yaml" not in CASE_FILES
    assert {"chat.yaml", "models.yaml"} <= set(CASE_FILES)


@pytest.mark.parametrize("name", CASE_FILES)
def test_case_file_validates_against_the_schema(name):
    data = yaml.safe_load((CASES_DIR / name).read_text())
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft202012Validator(CASE_SCHEMA).iter_errors(data)]
    assert not errors, errors
    assert data, f"{name} holds no cases"


def test_case_schema_rejects_a_bad_case():
    """The schema is not vacuous: an extra key, a missing field and a bad endpoint are refused."""
    good = {"id": "chat.x", "endpoint": "chat", "feature": "core", "description": "d", "request": {"method": "GET", "path": "/x"}, "checks": ["a.b"]}
    validator = Draft202012Validator(CASE_SCHEMA)
    assert validator.is_valid([good])
    assert not validator.is_valid([{**good, "surprise": 1}])
    assert not validator.is_valid([{k: v for k, v in good.items() if k != "checks"}])
    assert not validator.is_valid([{**good, "endpoint": "telepathy"}])
    assert not validator.is_valid([{**good, "checks": [{"a.b": {}, "c.d": {}}]}])


def test_case_ids_are_unique_including_generated_cases():
    duplicates = [case_id for case_id, n in Counter(c.id for c in CASES).items() if n > 1]
    assert not duplicates
    assert len(CASES) > len(static_cases()), "the scaleway profile should generate unsupported-parameter cases"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_words_are_in_the_vocabulary(case):
    assert case.endpoint in ENDPOINTS
    assert case.feature in FEATURES
    assert case.capability is None or case.capability in CAPABILITIES
    assert set(case.transports) <= set(TRANSPORTS)
    assert case.expect in ("success", "refusal")
    assert case.request["path"] == ENDPOINTS[case.endpoint] or case.request["path"].startswith(ENDPOINTS[case.endpoint] + "/")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_names_only_registered_checks(case):
    unknown = [name for name, _ in case.checks if name not in CHECKS]
    assert not unknown


# -- checks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_is_used_by_a_case(check_id):
    assert check_id in USED_CHECKS, f"{check_id} is registered but no case runs it"


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_has_a_description_without_should(check_id):
    spec = CHECKS[check_id]
    assert spec.description.strip()
    assert spec.description == spec.fn.__doc__.strip().splitlines()[0]
    assert not re.search(r"\bshould\b", spec.fn.__doc__, re.IGNORECASE), f"{check_id}: say what is asserted, not what 'should' be"


@pytest.mark.parametrize(
    "check_id",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=UNBROKEN_KNOWN[c])) if c in UNBROKEN_KNOWN else c
        for c in sorted(CHECKS)
    ],
)
def test_check_is_broken_by_a_fault(check_id):
    """A check that cannot fail is a defect: some faulty server must break it."""
    assert check_id in BROKEN_BY_FAULTS, f"no fault in tests/faulty breaks {check_id}"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_names_existing_checks(name):
    fault = FAULTS[name]
    assert not fault.breaks - set(CHECKS), f"breaks names unknown checks: {sorted(fault.breaks - set(CHECKS))}"
    assert not fault.collateral - set(CHECKS), f"collateral names unknown checks: {sorted(fault.collateral - set(CHECKS))}"
    assert not fault.breaks & fault.collateral
    assert set(fault.transports) <= set(TRANSPORTS)
    assert fault.outcome in ("fail", "error")
    assert fault.breaks or fault.outcome == "error", "a 'fail' fault must break at least one check"
    assert fault.description


# -- profiles ------------------------------------------------------------------------------------
def test_there_is_a_profile():
    assert PROFILE_FILES


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_profile_validates(path):
    data = yaml.safe_load(path.read_text())
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft202012Validator(PROFILE_SCHEMA).iter_errors(data)]
    assert not errors, errors
    profile = load_profile(path.stem)
    assert profile.name == path.stem


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_profile_words_are_in_the_vocabulary(path):
    profile = load_profile(path.stem)
    for endpoint, claims in profile.endpoints.items():
        assert endpoint in ENDPOINTS
        unknown = set(claims.get("features", ())) - set(FEATURES)
        assert not unknown, f"{endpoint} claims unknown features {sorted(unknown)}"
    assert set(profile.models) <= set(CAPABILITIES)


@pytest.mark.parametrize(
    "endpoint, parameter",
    [(e, p) for e in ENDPOINTS if e in UNSUPPORTED_VALUES for p in SCALEWAY.unsupported(e)],
)
def test_scaleway_unsupported_parameter_has_a_sample_value(endpoint, parameter):
    assert parameter in UNSUPPORTED_VALUES[endpoint]["values"]


def test_unsupported_values_sections_are_endpoints():
    assert set(UNSUPPORTED_VALUES) <= set(ENDPOINTS)
    for section in UNSUPPORTED_VALUES.values():
        assert set(section) <= {"base", "values", "companions", "capability"}
        assert set(section.get("companions", {})) <= set(section["values"])


# -- module hygiene ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_starts_with_a_docstring(path):
    tree = ast.parse(path.read_text())
    assert tree.body, f"{_rel(path)} is empty"
    first = tree.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str), f"{_rel(path)} does not open with a docstring"
    assert first.value.value.strip()


def _package_of(path: Path) -> str:
    """The package a relative import in ``path`` starts from (its own package, also for __init__.py)."""
    return ".".join(path.relative_to(PACKAGE_DIR.parent).parent.parts)


def _imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of the modules ``source`` (a module of ``package``) imports, relative imports resolved."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _outside_server(names: list[str]) -> list[str]:
    return [
        name
        for name in names
        if (name == "conformance" or name.startswith("conformance.")) and not (name == "conformance.server" or name.startswith("conformance.server."))
    ]


@pytest.mark.parametrize(
    "source, outside",
    [
        ("from . import app\nfrom .errors import APIError\nimport starlette\n", False),
        ("from ..sse import parse_sse\n", True),
        ("from .. import redact\n", True),
        ("import conformance.settings\n", True),
        ("from conformance.checks import CHECKS\n", True),
        ("def f():\n    from ..vocabulary import FEATURES\n", True),
        ("from conformance.server.errors import APIError\n", False),
    ],
)
def test_import_resolver(source, outside):
    """The resolver used below sees relative, absolute and function-local imports."""
    assert bool(_outside_server(_imported_modules(source, "conformance.server"))) is outside


def test_package_of():
    assert _package_of(PACKAGE_DIR / "report" / "__init__.py") == "conformance.report"
    assert _package_of(PACKAGE_DIR / "server" / "app.py") == "conformance.server"


@pytest.mark.parametrize("path", SERVER_MODULES, ids=_rel)
def test_reference_server_imports_no_other_conformance_module(path):
    outside = _outside_server(_imported_modules(path.read_text(), _package_of(path)))
    assert not outside, f"{_rel(path)} imports {outside}"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_scope_names_endpoints(name):
    scope = FAULTS[name].scope
    assert scope is None or (scope and set(scope) <= set(ENDPOINTS)), scope
