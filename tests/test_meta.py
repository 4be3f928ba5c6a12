"""Meta-tests over the suite's data and registries: cases, checks, faults, profiles, vocabulary, module hygiene."""

from __future__ import annotations

import ast
import importlib
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
from conformance.openapi import load_document
from conformance.paths import PACKAGE_DIR, profiles_dir
from conformance.profiles import available_profiles, load_profile, resolve_document
from conformance.vocabulary import (
    CAPABILITIES,
    ENDPOINTS,
    FEATURES,
    LEVELS,
    RECOMMENDED,
    RECOMMENDED_ONLY_SOURCES,
    SOURCE_KINDS,
    TRANSPORTS,
)
from tests.faulty import FAULTS, TEST_PROFILES, load_faults

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
#: Every shipped profile and test profile (a check may be used only under claims Scaleway does not make).
ALL_PROFILES = [load_profile(name) for name in available_profiles()] + [load_profile(str(p)) for p in sorted(TEST_PROFILES.glob("*.yaml"))]
USED_CHECKS = {name for profile in ALL_PROFILES for case in all_cases(profile) for name, _ in case.checks} | set(CHECK_BY_MODE.values())
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
    assert set(case.requires) <= set(FEATURES)
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


# -- levels and sources (docs/INTERPRETING.md "Levels and sources") ------------------------------
INTERPRETING_MD = Path(__file__).resolve().parents[1] / "docs" / "INTERPRETING.md"
LEVELS_TABLE_START, LEVELS_TABLE_END = "<!-- levels-table:start -->", "<!-- levels-table:end -->"
#: openapi sources that name no single JSON pointer, and why.
OPENAPI_WITHOUT_POINTER: dict[str, str] = {
    "golden.shape.matches": "its source is the spec's example exchanges and their schemas' required lists, not one component",
}
_POINTER = re.compile(r"#/[^\s,;()]+")


def _resolve_pointer(document, pointer: str):
    node = document
    for part in pointer.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _profile_nodes(node, parts: list[str]) -> list:
    """The nodes at a dotted key path of a profile document (``*``: any key)."""
    if not parts:
        return [node]
    if not isinstance(node, dict):
        return []
    head, rest = parts[0], parts[1:]
    children = list(node.values()) if head == "*" else ([node[head]] if head in node else [])
    return [found for child in children for found in _profile_nodes(child, rest)]


def _document(profile) -> dict:
    return resolve_document(Path(profile.path))[0]


def source_problem(source: str, *, pointer_required: bool = True) -> str | None:
    """Why a "KIND: reference" source does not say where its strictness is written (None: it does).

    openapi: a JSON pointer into specs/openapi/openapi.yaml; profile: a key path of a shipped
    profile (then, for a list, one of its items: a claimed feature); sdk: a name in the installed
    openai package; wire: the RFC 9110 / RFC 8259 / WHATWG HTML §9.2 section; observed: what
    OpenAI does. Every JSON pointer any source names resolves.
    """
    kind, _, reference = source.partition(":")
    kind, reference = kind.strip(), reference.strip()
    if kind not in SOURCE_KINDS:
        return f"kind {kind!r} is not one of {sorted(SOURCE_KINDS)}"
    if not reference:
        return "no reference after the kind"
    document = load_document()
    for pointer in _POINTER.findall(reference):
        try:
            _resolve_pointer(document, pointer)
        except (KeyError, IndexError, ValueError):
            return f"{pointer} is not in specs/openapi/openapi.yaml"
    if kind == "openapi" and pointer_required and not _POINTER.search(reference):
        return "an openapi source names a JSON pointer (#/...) into specs/openapi/openapi.yaml"
    if kind == "profile":
        path, _, rest = reference.partition(" ")
        nodes = [node for profile in ALL_PROFILES for node in _profile_nodes(_document(profile), path.split("."))]
        if not nodes:
            return f"{path} is not a key path of any shipped profile"
        word = rest.split(" ", 1)[0] if rest and not rest.startswith("(") else None
        if word is not None:
            if path.endswith(".features") and word not in FEATURES:
                return f"{word!r} is not a feature (vocabulary.FEATURES)"
            if not any(isinstance(node, list) and word in node for node in nodes):
                return f"no shipped profile's {path} holds {word!r}"
    if kind == "sdk":
        name = reference.split(" ", 1)[0]
        if not name.startswith("openai."):
            return "an sdk source starts with the openai-python name it relies on (openai.module.Name...)"
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return f"{name}: the installed openai package has no {attr!r}"
            obj = getattr(obj, attr)
    if kind == "wire" and not re.search(r"RFC 9110 §\d|RFC 8259 §\d|WHATWG HTML §9\.2", reference):
        return "a wire source names its section: RFC 9110 §…, RFC 8259 §… or WHATWG HTML §9.2…"
    return None


def levels_table() -> str:
    """The "Levels and sources" table of docs/INTERPRETING.md, from the registry (`python -m tests.test_meta` prints it)."""
    specs = sorted(CHECKS.values(), key=lambda s: s.id)
    levels = Counter(s.level for s in specs)
    kinds = Counter(s.source_kind for s in specs)
    lines = [
        f"{len(specs)} checks: " + ", ".join(f"{levels[level]} {level}" for level in LEVELS) + "; sources: "
        + ", ".join(f"{kinds[kind]} {kind}" for kind in SOURCE_KINDS) + ".",
        "",
        "| check | level | source |",
        "| --- | --- | --- |",
    ]
    for spec in specs:
        level = spec.level + (" (semantic)" if spec.semantic else "")
        lines.append(f"| `{spec.id}` | {level} | {spec.source.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_declares_its_level_and_source(check_id):
    spec = CHECKS[check_id]
    assert spec.level in LEVELS
    assert spec.source, f"{check_id}: no source (say where its strictness is written: 'KIND: reference')"
    assert spec.source_kind in SOURCE_KINDS, f"{check_id}: source kind {spec.source_kind!r} not in {sorted(SOURCE_KINDS)}"
    assert spec.source.partition(":")[2].strip(), f"{check_id}: the source names no reference"


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_check_source_reference_resolves(check_id):
    source = CHECKS[check_id].source
    problem = source_problem(source, pointer_required=check_id not in OPENAPI_WITHOUT_POINTER)
    assert problem is None, f"{check_id}: {problem} ({source!r})"


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_observed_source_means_recommended(check_id):
    spec = CHECKS[check_id]
    if spec.source_kind in RECOMMENDED_ONLY_SOURCES:
        assert spec.level == RECOMMENDED, f"{check_id}: backed only by {spec.source_kind!r}, so at most recommended"


def test_some_checks_are_recommended():
    recommended = sorted(c for c, s in CHECKS.items() if s.level == RECOMMENDED)
    print("recommended checks:", ", ".join(recommended))
    assert len(recommended) > 0
    assert len(recommended) < len(CHECKS), "every check recommended: nothing would ever fail"


def test_openapi_sources_without_a_pointer_are_registered_openapi_checks():
    for check_id in OPENAPI_WITHOUT_POINTER:
        assert check_id in CHECKS and CHECKS[check_id].source_kind == "openapi", check_id


@pytest.mark.parametrize(
    "source",
    [
        "openapi: #/components/schemas/NoSuchComponent",
        "openapi: the chat completion schema",
        "profile: endpoints.chat.unsupported_widgets",
        "profile: endpoints.chat.features telepathy (no such feature)",
        "profile: endpoints.models.features streaming (a feature the profile does not claim there)",
        "sdk: openai._streaming.NoSuchStream",
        "sdk: the openai client",
        "wire: HTTP says so",
        "guess: it seems right",
        "observed:",
        "profile: status_codes.missing_key (see #/components/securitySchemes/NoSuchScheme)",
    ],
)
def test_source_problem_rejects_bad_references(source):
    assert source_problem(source) is not None


@pytest.mark.parametrize(
    "source",
    [
        "openapi: #/paths/~1batches~1{batch_id}~1cancel/post (cancelling)",
        "profile: endpoints.*.features golden",
        "profile: limits.images_per_request",
        "sdk: openai._streaming.Stream.__stream__ (stops at data: [DONE])",
        "wire: WHATWG HTML §9.2.6",
        "observed: OpenAI does so",
    ],
)
def test_source_problem_accepts_good_references(source):
    assert source_problem(source) is None


def test_interpreting_md_levels_table_is_the_registry():
    text = INTERPRETING_MD.read_text(encoding="utf-8")
    assert "## Levels and sources" in text, "docs/INTERPRETING.md lost its 'Levels and sources' section"
    assert LEVELS_TABLE_START in text and LEVELS_TABLE_END in text, "the levels table markers are missing"
    documented = text.split(LEVELS_TABLE_START, 1)[1].split(LEVELS_TABLE_END, 1)[0].strip()
    expected = levels_table()
    assert documented == expected, (
        "docs/INTERPRETING.md's levels table differs from the registry; paste `python -m tests.test_meta` between the markers:\n" + expected
    )


# -- profiles ------------------------------------------------------------------------------------
def test_there_is_a_profile():
    assert PROFILE_FILES


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_profile_validates(path):
    data, _ = resolve_document(path)  # its extends chain applied: the schema describes the result
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
        assert set(section) <= {"request", "values", "companions", "capability"}
        assert set(section.get("companions", {})) <= set(section["values"])
        assert ("body" in section["request"]) != ("form" in section["request"]), "a base request is JSON or multipart"
    assert "models" not in UNSUPPORTED_VALUES, "/v1/models takes no parameters"


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


def test_profile_schema_batch_input_forms_are_the_vocabulary():
    from conformance.vocabulary import BATCH_INPUT_FILE_FORMS

    schema = PROFILE_SCHEMA["properties"]["endpoints"]["properties"]["batches"]["properties"]["properties"]
    assert tuple(schema["properties"]["input_file"]["enum"]) == BATCH_INPUT_FILE_FORMS


if __name__ == "__main__":
    print(levels_table())
