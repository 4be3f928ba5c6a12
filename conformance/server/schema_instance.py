"""Deterministic instances of a JSON Schema (Draft 2020-12): structured answers and tool arguments.

``generate(schema, hints)`` returns the same value for the same schema and hints, and that value is
validated against the schema before it is returned. Supported: local ``$ref`` (JSON pointers and
``$anchor``) with ``$defs``, ``allOf`` (merged), ``anyOf`` / ``oneOf`` (the first branch, null-only
branches last, whose instance validates against the whole schema, so for ``oneOf`` against exactly
one branch), ``enum`` / ``const``, type lists (first non-null type first), ``pattern`` (a string
built from the regex's parse tree), string lengths and formats, numeric bounds and ``multipleOf``,
array bounds, ``prefixItems``, ``contains`` and ``uniqueItems``, ``required``,
``additionalProperties`` and ``minProperties``.

Every declared property is present; an array without ``minItems`` gets one item. An unconstrained
string (no ``enum``/``const``/``pattern``/``format``) takes the next unused hint that fits its length
bounds, else ``"example"``. A schema that is invalid, has a non-local ``$ref``, or has no instance the
generator can find (within fixed size and effort limits) raises ``SchemaInstanceError``.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from re import _parser as sre  # the stdlib regex parser: its trees drive patterns
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as _MetaSchemaError

FILLER = "example"
#: Bounds that keep generation small and finite (a schema needing more has "no instance").
MAX_DEPTH = 40
MAX_REF_REPEATS = 2  # one $ref expanded more often than this on one path: a recursion to cut
MAX_ITEMS = 256
MAX_STRING = 4096
MAX_VARIANTS = 64
MAX_BRANCH_VARIANTS = 8
MAX_NUMBER_TRIES = 64
MAX_STEPS = 5000  # subschemas generated + validations for one instance: beyond, "too complex"

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
_KEYWORD_TYPES = (
    ("object", ("properties", "required", "additionalProperties", "patternProperties", "minProperties",
                "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")),
    ("string", ("pattern", "minLength", "maxLength", "format")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)  # fmt: skip
#: Keywords that only annotate (or were consumed by flattening): dropped when merging.
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$defs", "definitions", "$vocabulary",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "contentEncoding", "contentMediaType", "contentSchema",
})  # fmt: skip
_NUMERIC_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_LOWER_BOUNDS = frozenset({"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"})
_UPPER_BOUNDS = frozenset({"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SUBSCHEMAS = frozenset({"items", "additionalProperties", "contains", "propertyNames", "unevaluatedItems",
                         "unevaluatedProperties"})  # fmt: skip

#: Characters tried for regex classes, in order of preference.
_CHARS = string.ascii_uppercase + string.ascii_lowercase + string.digits + " -_.,:;!?@#$%&*+=/()[]{}<>'\"|~^`\\"
_ANY_CHARS = string.ascii_lowercase


class SchemaInstanceError(ValueError):
    """The schema is not a valid JSON Schema, or no instance of it could be produced."""


class _NoInstance(Exception):
    """This (sub)schema has no instance the generator can produce; the caller may try another way."""


class _TooComplex(Exception):
    """The generation budget is spent: the whole generation stops."""


@dataclass(frozen=True)
class Instance:
    value: Any
    #: How many hints (from the start of the list) the instance used.
    hints_used: int


_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def check_schema(schema: Any) -> None:
    """Raise SchemaInstanceError unless ``schema`` is a valid Draft 2020-12 schema whose refs are local."""
    try:
        Draft202012Validator.check_schema(schema)
    except _MetaSchemaError as exc:
        where = "".join(f"[{p!r}]" for p in exc.path)
        at = f" at {where}" if where else ""
        raise SchemaInstanceError(f"not a valid JSON Schema{at}: {exc.message}") from None
    except RecursionError:
        raise SchemaInstanceError("not a valid JSON Schema: nested too deeply") from None
    for ref in _refs(schema):
        _resolve(schema, ref)


def generate(schema: Any, hints: Sequence[str] = ()) -> Instance:
    """A deterministic instance of ``schema``; unconstrained strings take ``hints`` in order."""
    check_schema(schema)
    generator = _Generator(schema, hints)
    try:
        value = generator.gen(schema)
        valid = generator.valid(schema, value)
    except _NoInstance as exc:
        raise SchemaInstanceError(f"no instance of the schema could be produced: {exc}") from None
    except _TooComplex:
        raise SchemaInstanceError("the schema is too complex to produce an instance of") from None
    except RecursionError:
        raise SchemaInstanceError("no instance of the schema could be produced: nested too deeply") from None
    if not valid:
        raise SchemaInstanceError("no instance of the schema could be produced that validates against it")
    return Instance(value, generator.next_hint)


# --- references --------------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            elif key not in ("enum", "const", "default", "examples"):
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _anchors(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(key), str):
                yield node[key], node
        for key, value in node.items():
            if key not in ("enum", "const", "default", "examples"):
                yield from _anchors(value)
    elif isinstance(node, list):
        for item in node:
            yield from _anchors(item)


def _resolve(root: Any, ref: str) -> Any:
    """The subschema ``ref`` points to inside ``root``: only local refs ("#", "#/pointer", "#anchor")."""
    if not ref.startswith("#"):
        raise SchemaInstanceError(f"unsupported $ref {ref!r}: only local references ('#/...') are supported")
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        for name, node in _anchors(root):
            if name == fragment:
                return node
        raise SchemaInstanceError(f"unresolvable $ref {ref!r}: no such $anchor")
    node = root
    for token in fragment.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaInstanceError(f"unresolvable $ref {ref!r}")
    if not isinstance(node, (dict, bool)):
        raise SchemaInstanceError(f"$ref {ref!r} does not point to a schema")
    return node


# --- merging (allOf, $ref siblings) ------------------------------------------------------------------


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _type_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _intersect_types(a: Any, b: Any) -> list[str]:
    left, right = _type_list(a), _type_list(b)
    out = [t for t in left if t in right]
    # "integer" is a subset of "number": number on one side and integer on the other give integer.
    for one, other in ((left, right), (right, left)):
        if "number" in one and "integer" in other and "integer" not in out:
            out.append("integer")
    if not out:
        raise _NoInstance(f"conflicting types {left} and {right}")
    return out


def _merge_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    """Merge ``source``'s constraints into ``target`` (both as if in one allOf)."""
    leftovers = target.setdefault("allOf", [])
    for key, value in source.items():
        if key in _ANNOTATIONS:
            continue
        if key == "allOf":
            leftovers.extend(value)
            continue
        if key not in target:
            target[key] = value
            continue
        current = target[key]
        if key == "type":
            target[key] = _intersect_types(current, value)
        elif key == "required":
            target[key] = [*current, *(name for name in value if name not in current)]
        elif key in _LOWER_BOUNDS:
            target[key] = max(current, value)
        elif key in _UPPER_BOUNDS:
            target[key] = min(current, value)
        elif key == "uniqueItems":
            target[key] = current or value
        elif key == "enum":
            keys = {_json_key(v) for v in value}
            target[key] = [v for v in current if _json_key(v) in keys]
            if not target[key]:
                raise _NoInstance("enums without a common value")
        elif key in _SUBSCHEMA_MAPS:
            merged = dict(current)
            for name, sub in value.items():
                merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
            target[key] = merged
        elif key in _SUBSCHEMAS:
            if current is False or value is False:
                target[key] = False
            elif current is True or current == {}:
                target[key] = value
            elif not (value is True or value == {}):
                target[key] = {"allOf": [current, value]}
        elif _json_key(current) != _json_key(value):
            if key == "const":
                raise _NoInstance("conflicting const values")
            leftovers.append({key: value})  # kept for validation; generation follows the first
    if not leftovers:
        del target["allOf"]


# --- regex patterns ------------------------------------------------------------------------------------

_CATEGORY_PATTERNS = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W",
}  # fmt: skip
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}


def _category_chars(category: Any) -> str:
    pattern = _CATEGORY_PATTERNS.get(category)
    if pattern is None:
        raise _NoInstance(f"unsupported regex category {category}")
    return "".join(c for c in _CHARS if re.fullmatch(pattern, c))


def _in_class(items: list[tuple[Any, Any]], char: str) -> bool:
    code = ord(char)
    for op, av in items:
        if op is sre.LITERAL and av == code:
            return True
        if op is sre.RANGE and av[0] <= code <= av[1]:
            return True
        if op is sre.CATEGORY and char in _category_chars(av):
            return True
    return False


def _class_chars(items: list[tuple[Any, Any]]) -> tuple[str, ...]:
    """Candidate characters of a ``[...]`` class, in the order the class lists them."""
    if items and items[0][0] is sre.NEGATE:
        chars = [c for c in _CHARS if not _in_class(items[1:], c)]
    else:
        chars = []
        for op, av in items:
            if op is sre.LITERAL:
                chars.append(chr(av))
            elif op is sre.RANGE:
                chars.extend(chr(code) for code in range(av[0], min(av[1], av[0] + 127) + 1))
            elif op is sre.CATEGORY:
                chars.extend(_category_chars(av))
            else:
                raise _NoInstance(f"unsupported regex class item {op}")
    unique = tuple(dict.fromkeys(chars))
    if not unique:
        raise _NoInstance("empty regex character class")
    return unique


class _PatternWalker:
    """Turns a regex parse tree into slots: each a tuple of alternative strings for one position."""

    def __init__(self, grow: int, referenced: set[int]) -> None:
        self.grow = grow  # extra repetitions handed out to variable repeats, left to right
        self.referenced = referenced
        self.groups: dict[int, str] = {}

    def walk(self, items: Iterable[tuple[Any, Any]]) -> list[tuple[str, ...]]:
        slots: list[tuple[str, ...]] = []
        for op, av in items:
            slots.extend(self.node(op, av))
        return slots

    def node(self, op: Any, av: Any) -> list[tuple[str, ...]]:
        if op is sre.LITERAL:
            return [(chr(av),)]
        if op is sre.NOT_LITERAL:
            return [tuple(c for c in _CHARS if ord(c) != av)]
        if op is sre.ANY:
            return [tuple(_ANY_CHARS)]
        if op is sre.IN:
            return [_class_chars(av)]
        if op in _REPEATS:
            low, high, sub = av
            extra = min(self.grow, high - low) if high is not sre.MAXREPEAT else self.grow
            self.grow -= extra
            slots: list[tuple[str, ...]] = []
            for _ in range(low + extra):
                slots.extend(self.walk(sub))
                if len(slots) > MAX_STRING:
                    raise _NoInstance("regex repetition too long")
            return slots
        if op is sre.SUBPATTERN:
            group, _add_flags, _del_flags, sub = av
            slots = self.walk(sub)
            if group is not None and group in self.referenced:
                text = "".join(slot[0] for slot in slots)
                self.groups[group] = text
                return [(text,)]
            return slots
        if op is sre.BRANCH:
            return self.walk(av[1][0])
        if op is getattr(sre, "ATOMIC_GROUP", None):
            return self.walk(av)
        if op is sre.GROUPREF:
            return [(self.groups.get(av, ""),)]
        if op is sre.GROUPREF_EXISTS:
            group, yes, no = av
            return self.walk(yes if group in self.groups else (no or []))
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            return []
        raise _NoInstance(f"unsupported regex construct {op}")


def _group_refs(items: Iterable[tuple[Any, Any]]) -> Iterator[int]:
    """Numbers of the groups a backreference (or a conditional) uses."""
    for op, av in items:
        if op is sre.GROUPREF:
            yield av
        elif op is sre.GROUPREF_EXISTS:
            yield av[0]
            yield from _group_refs(av[1])
            yield from _group_refs(av[2] or [])
        elif op in _REPEATS:
            yield from _group_refs(av[2])
        elif op is sre.SUBPATTERN:
            yield from _group_refs(av[3])
        elif op is sre.BRANCH:
            for alternative in av[1]:
                yield from _group_refs(alternative)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            yield from _group_refs(av[1])
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            yield from _group_refs(av)


def _choose(slots: list[tuple[str, ...]], variant: int) -> str:
    """The variant-th combination of slot choices, the rightmost slot varying fastest."""
    chosen = [slot[0] for slot in slots]
    for index in range(len(slots) - 1, -1, -1):
        if variant == 0:
            break
        size = len(slots[index])
        if size > 1:
            variant, pick = divmod(variant, size)
            chosen[index] = slots[index][pick]
    if variant:
        raise _NoInstance("no more distinct strings for the pattern")
    return "".join(chosen)


def pattern_string(pattern: str, min_length: int = 0, max_length: int | None = None, variant: int = 0) -> str:
    """A string that ``re.search(pattern)`` matches, within the length bounds."""
    try:
        tree = sre.parse(pattern)
    except re.error as exc:
        raise _NoInstance(f"pattern {pattern!r} is not a valid regex: {exc}") from None
    referenced = set(_group_refs(tree))
    compiled = re.compile(pattern)
    for grow in range(max(min_length, 1) + 1):
        text = _choose(_PatternWalker(grow, referenced).walk(tree), variant)
        if max_length is not None and len(text) > max_length:
            break
        if len(text) >= min_length and compiled.search(text):
            return text
    raise _NoInstance(f"no string matching {pattern!r} within the length bounds")


# --- formats -------------------------------------------------------------------------------------------


def _format_value(name: str, variant: int) -> str | None:
    n = variant + 1
    values = {
        "date": f"2025-01-{n:02d}" if n <= 28 else None,
        "date-time": f"2025-01-01T00:00:{variant:02d}Z" if variant < 60 else None,
        "time": f"12:00:{variant:02d}Z" if variant < 60 else None,
        "duration": f"P{n}D",
        "email": "user@example.com" if variant == 0 else f"user{n}@example.com",
        "hostname": "example.com" if variant == 0 else f"host{n}.example.com",
        "ipv4": f"192.0.2.{n}" if n < 255 else None,
        "ipv6": f"2001:db8::{n:x}",
        "uri": "https://example.com/" if variant == 0 else f"https://example.com/{n}",
        "uri-reference": "https://example.com/" if variant == 0 else f"https://example.com/{n}",
        "uri-template": "https://example.com/{id}" if variant == 0 else f"https://example.com/{n}/{{id}}",
        "uuid": f"00000000-0000-4000-8000-{variant:012d}",
        "json-pointer": "/example" if variant == 0 else f"/example{n}",
        "relative-json-pointer": str(variant),
        "regex": FILLER if variant == 0 else f"{FILLER}{n}",
    }
    aliases = {"idn-email": "email", "idn-hostname": "hostname", "iri": "uri", "iri-reference": "uri-reference"}
    return values.get(aliases.get(name, name))


# --- the generator ------------------------------------------------------------------------------------


def _fit(text: str, min_length: int, max_length: int | None) -> str:
    while len(text) < min_length:
        text += FILLER
    text = text[: max(min_length, len(text) if max_length is None else min(len(text), max_length))]
    if max_length is not None and len(text) > max_length:
        raise _NoInstance("minLength above maxLength")
    return text


def _number(value: Decimal | int | float) -> int | float:
    """An int when integral (``1`` rather than ``1.0``), else a float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise _NoInstance(f"unusable number {value!r}")
    return number


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("null", ["null"])


class _Generator:
    def __init__(self, root: Any, hints: Sequence[str]) -> None:
        self.root = root
        self.hints = tuple(hints)
        self.next_hint = 0
        self.validator = Draft202012Validator(root, format_checker=_FORMAT_CHECKER)
        self.ref_path: list[str] = []
        self.depth = 0
        self.steps = 0

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _TooComplex

    def valid(self, schema: Any, value: Any) -> bool:
        self._step()
        return self.validator.evolve(schema=schema).is_valid(value)

    # Every generating method either returns a value or raises _NoInstance; on _NoInstance the hints
    # it may have taken are given back by the caller that catches it (see _attempt).

    def _attempt(self, make: Any, *args: Any) -> tuple[bool, Any]:
        saved = self.next_hint
        try:
            return True, make(*args)
        except _NoInstance:
            self.next_hint = saved
            return False, None

    def gen(self, schema: Any, variant: int = 0) -> Any:
        if schema is True:
            schema = {}
        if schema is False:
            raise _NoInstance("the false schema has no instance")
        self._step()
        self.depth += 1
        depth_path = len(self.ref_path)
        try:
            if self.depth > MAX_DEPTH:
                raise _NoInstance("schema nested too deeply")
            flat = self._flatten(schema)
            return self._gen_flat(flat, variant)
        finally:
            self.depth -= 1
            del self.ref_path[depth_path:]

    def _flatten(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with its ``$ref`` targets and ``allOf`` branches merged in (one level)."""
        merged: dict[str, Any] = {}

        def visit(node: Any) -> None:
            if node is True:
                return
            if node is False:
                raise _NoInstance("the false schema has no instance")
            node = dict(node)
            refs = [node.pop(key) for key in ("$ref", "$dynamicRef") if key in node]
            branches = node.pop("allOf", [])
            _merge_into(merged, node)
            for ref in refs:
                if self.ref_path.count(ref) >= MAX_REF_REPEATS:
                    raise _NoInstance(f"recursive $ref {ref!r} has no finite instance here")
                self.ref_path.append(ref)
                try:
                    target = _resolve(self.root, ref)
                except SchemaInstanceError as exc:
                    raise _NoInstance(str(exc)) from None
                visit(target)
            for branch in branches:
                visit(branch)

        visit(schema)
        return merged

    def _gen_flat(self, schema: dict[str, Any], variant: int) -> Any:
        if "const" in schema:
            if variant or not self.valid(schema, schema["const"]):
                raise _NoInstance("the const value does not fit the schema")
            return schema["const"]
        if "enum" in schema:
            fitting = [value for value in schema["enum"] if self.valid(schema, value)]
            if variant >= len(fitting):
                raise _NoInstance("no enum value fits the schema")
            return fitting[variant]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k != key}
                # Like a type list: a null-only branch is tried last (stable order otherwise).
                for branch in sorted(schema[key], key=_is_null_schema):
                    # A branch's first instance may also match another oneOf branch: try a few more.
                    for attempt in range(variant, variant + MAX_BRANCH_VARIANTS):
                        saved = self.next_hint
                        ok, value = self._attempt(self.gen, {"allOf": [rest, branch]}, attempt)
                        if ok and self.valid(schema, value):
                            return value
                        self.next_hint = saved
                        if not ok:
                            break
                raise _NoInstance(f"no {key} branch has an instance that validates")
        for type_name in self._types(schema):
            saved = self.next_hint
            ok, value = self._attempt(self._gen_type, type_name, schema, variant)
            if ok and self.valid(schema, value):
                return value
            self.next_hint = saved
        raise _NoInstance("no type of the schema has an instance that validates")

    def _types(self, schema: dict[str, Any]) -> list[str]:
        declared = schema.get("type")
        if declared is not None:
            types = _type_list(declared)
            return [t for t in types if t != "null"] + (["null"] if "null" in types else [])
        inferred = [name for name, keywords in _KEYWORD_TYPES if any(k in schema for k in keywords)]
        fallbacks = ("string", "number", "integer", "boolean", "object", "array", "null")
        return inferred + [t for t in fallbacks if t not in inferred]

    def _gen_type(self, type_name: str, schema: dict[str, Any], variant: int) -> Any:
        if type_name == "null":
            if variant:
                raise _NoInstance("null has one value")
            return None
        if type_name == "boolean":
            if variant > 1:
                raise _NoInstance("a boolean has two values")
            return (True, False)[variant]
        if type_name in ("integer", "number"):
            return self._gen_number(schema, variant, type_name == "integer")
        if type_name == "string":
            return self._gen_string(schema, variant)
        if type_name == "array":
            return self._gen_array(schema, variant)
        if type_name == "object":
            return self._gen_object(schema, variant)
        raise _NoInstance(f"unknown type {type_name!r}")

    # --- numbers

    def _gen_number(self, schema: dict[str, Any], variant: int, integer: bool) -> int | float:
        numeric = {k: schema[k] for k in _NUMERIC_KEYWORDS if k in schema}
        numeric["type"] = "integer" if integer else "number"
        if variant and not integer and "multipleOf" not in schema:
            # Other numbers: half steps from the first one (so 0.5 is tried before 1).
            value = _number(_decimal(self._gen_number(schema, 0, integer)) + Decimal(variant) / 2)
            if self.valid(numeric, value):
                return value
            raise _NoInstance("no other number within the bounds")
        # The tightest bounds; exclusivity is left to validation (the candidates step past it).
        lows = [_decimal(schema[k]) for k in ("minimum", "exclusiveMinimum") if k in schema]
        highs = [_decimal(schema[k]) for k in ("maximum", "exclusiveMaximum") if k in schema]
        lower = max(lows) if lows else None
        upper = min(highs) if highs else None
        step = _decimal(schema["multipleOf"]) if "multipleOf" in schema else Decimal(1)
        if integer and step != step.to_integral_value():
            step = Decimal(1)  # a multiple of a fraction among integers: search the integers
        if lower is not None:
            start, direction = lower, 1
        elif upper is not None and upper < 0:
            start, direction = upper, -1
        else:
            start, direction = Decimal(0), 1
        # The first multiple of step on the right side of start.
        quotient = start / step
        k = math.ceil(quotient) if direction > 0 else math.floor(quotient)
        candidates: list[Decimal] = [Decimal(k + direction * (variant + i)) * step for i in range(MAX_NUMBER_TRIES)]
        if variant == 0 and not integer and "multipleOf" not in schema and lower is not None and upper is not None:
            candidates.append((lower + upper) / 2)  # a tight range: its midpoint
        for candidate in candidates:
            value = _number(candidate)
            if self.valid(numeric, value):
                return value
        raise _NoInstance("no number within the bounds")

    # --- strings

    def _gen_string(self, schema: dict[str, Any], variant: int) -> str:
        min_length = schema.get("minLength", 0)
        max_length = schema.get("maxLength")
        if min_length > MAX_STRING:
            raise _NoInstance("minLength too large")
        if "pattern" in schema:
            return pattern_string(schema["pattern"], min_length, max_length, variant)
        if "format" in schema:
            value = _format_value(schema["format"], variant)
            if value is not None:
                if len(value) < min_length or (max_length is not None and len(value) > max_length):
                    raise _NoInstance("the format's value does not fit the length bounds")
                return value
        else:
            # An unconstrained string: the next hint that fits.
            if variant == 0 and self.next_hint < len(self.hints):
                hint = self.hints[self.next_hint]
                if len(hint) >= min_length and (max_length is None or len(hint) <= max_length):
                    self.next_hint += 1
                    return hint
        return _fit(FILLER if variant == 0 else f"{FILLER}{variant + 1}", min_length, max_length)

    # --- arrays

    def _gen_array(self, schema: dict[str, Any], variant: int) -> list[Any]:
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", True)
        min_items = schema.get("minItems", 0)
        max_items = schema.get("maxItems")
        contains = schema.get("contains")
        min_contains = schema.get("minContains", 1) if contains is not None else 0
        if max(min_items, min_contains) > MAX_ITEMS:
            raise _NoInstance("minItems too large")
        count = max(min_items, min_contains, len(prefix), 0 if items is False else 1)
        if items is False:
            count = min(count, len(prefix))
        if max_items is not None:
            count = min(count, max_items)
        unique = schema.get("uniqueItems", False)
        result: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else items
            if index < min_contains:
                item_schema = {"allOf": [item_schema, contains]}
            value = self._array_item(item_schema, variant if index == 0 else 0, seen if unique else None)
            if value is _MISSING:
                if index < max(min_items, min_contains):
                    raise _NoInstance("not enough array items")
                break
            result.append(value)
            seen.add(_json_key(value))
        return result

    def _array_item(self, schema: Any, variant: int, seen: set[str] | None) -> Any:
        for attempt in range(variant, variant + (MAX_VARIANTS if seen is not None else 1)):
            saved = self.next_hint
            ok, value = self._attempt(self.gen, schema, attempt)
            if ok and (seen is None or _json_key(value) not in seen):
                return value
            self.next_hint = saved
        return _MISSING

    # --- objects

    def _gen_object(self, schema: dict[str, Any], variant: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        if variant == 0:
            return self._object(schema, None, 0)
        for name in properties:  # vary the first property that can vary
            ok, value = self._attempt(self._object, schema, name, variant)
            if ok:
                return value
        raise _NoInstance("no property of the object can vary")

    def _property_schema(self, schema: dict[str, Any], name: str) -> Any:
        for pattern, sub in schema.get("patternProperties", {}).items():
            if re.search(pattern, name):
                return sub
        additional = schema.get("additionalProperties", True)
        return True if additional is False else additional

    def _object(self, schema: dict[str, Any], varied: str | None, variant: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = [name for name in schema.get("required", []) if name not in properties]
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            must = name in schema.get("required", ()) or name == varied
            if must:
                result[name] = self.gen(sub, variant if name == varied else 0)
            else:
                ok, value = self._attempt(self.gen, sub, 0)
                if ok:
                    result[name] = value
        for name in required:  # required but not declared: from additional/pattern properties
            result[name] = self.gen(self._property_schema(schema, name))
        extra = 1
        while len(result) < schema.get("minProperties", 0) and extra <= MAX_ITEMS:
            name = f"property{extra}"
            extra += 1
            if name not in result:
                result[name] = self.gen(self._property_schema(schema, name))
        return result


_MISSING = object()
