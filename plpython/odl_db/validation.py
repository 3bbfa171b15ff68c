"""JSON Schema (draft 2020-12) validation of ODL-SD documents, and the
integrity rules that a schema cannot express.

The same code runs on two jsonschema releases: Debian 12's 4.10 inside
PostgreSQL and 4.26 in the test venv. Where they differ, this module decides:

- Numbers. The jsonb transform hands over Decimal. `integer` accepts a
  Decimal with no fractional part (and a whole float, as jsonschema does);
  `boolean` is never a number. `enum`, `const` and `multipleOf` compare
  numbers by their decimal value, so 0.1 from a file and 0.1 from jsonb are
  equal and 0.3 is a multiple of 0.1.
- Formats. Both releases skip `uri` and `date-time` unless optional packages
  are installed, so the checks live here, on the standard library:
  date-time, date, time (RFC 3339), uri, uri-reference (RFC 3986 syntax),
  email (one @ between non-blank parts), ipv4, ipv6, uuid, regex and
  json-pointer (RFC 6901). Other formats are annotations only.
- Patterns follow ECMA-262 as JSON Schema says: `$` matches only at the
  end, so "4.1.0\\n" does not match "^...$"; \\d and \\w are ASCII.
- A schema is checked against the draft 2020-12 meta-schema when it is
  compiled, and references never leave it: a `$ref` to anything but the
  schema itself or the meta-schemas raises InvalidSchemaError instead of
  fetching from the network.
- Messages are written here, from the failing keyword, so they read the
  same on every release and never show a Python repr.
"""

from __future__ import annotations

from collections import OrderedDict

import datetime
import decimal
import functools
import inspect
import ipaddress
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema import _utils as _jsonschema_utils
from jsonschema import exceptions as _jsonschema_exceptions

from odl_db.canonical import canonical_json, content_hash
from odl_db.integrity import SUPPORTED_VERSIONS, integrity_errors  # re-exported: they moved there

__all__ = [
    "FORMATS",
    "SUPPORTED_VERSIONS",
    "InvalidSchemaError",
    "check_schema",
    "integrity_errors",
    "schema_errors",
    "schema_errors_after_patch",
    "validator_for",
]

CACHE_LIMIT = 64  # compiled validators kept per cache; schemas are few

Error = tuple[str, str]  # (RFC 6901 pointer, message)


class InvalidSchemaError(ValueError):
    """The schema cannot be applied: it breaks the draft 2020-12
    meta-schema, or one of its references cannot be resolved."""


# --- numbers -----------------------------------------------------------------


def _is_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, (int, float, Decimal)) and not isinstance(instance, bool)


def _is_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, int):
        return True
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return isinstance(instance, float) and instance.is_integer()


def _decimal(number: int | float | Decimal) -> Decimal:
    # repr() gives a float's shortest round-trip digits: 0.1 -> Decimal("0.1").
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _json_equal(one: Any, two: Any) -> bool:
    if isinstance(one, bool) or isinstance(two, bool):
        return one is two
    if _is_number(None, one) and _is_number(None, two):
        return _decimal(one) == _decimal(two)
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[k], two[k]) for k in one)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(map(_json_equal, one, two))
    return type(one) is type(two) and one == two


def _plain_numbers(value: Any) -> Any:
    """`value` with whole Decimals as int: the draft 2020-12 meta-schemas
    are checked by jsonschema's stock class, which knows no Decimal integers."""
    if isinstance(value, Decimal):
        return int(value) if _is_integer(None, value) else value
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


_SUBSCHEMA = {
    "additionalProperties", "unevaluatedProperties", "items", "contains", "propertyNames",
    "not", "if", "then", "else", "unevaluatedItems", "contentSchema",
}
_SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SUBSCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"}
_RESOURCE_KEYWORDS = {"$id", "$anchor", "$dynamicAnchor"}
_LOCAL_DEF = re.compile(r"#/\$defs/([^/~]+)\Z")


def _prepare(schema: Any) -> Any:
    """The schema as compiled: the same assertions, cheaper to run.

    - Annotations (title, description, ...) go: they assert nothing.
    - A bare `{"$ref": "#/$defs/name"}` is replaced by the definition it
      names (one shared copy per definition), unless that would recurse or
      the definition is a resource of its own. A `$ref` is the dearest
      keyword jsonschema runs, and an ODL-SD document meets thousands.
    - Numbers become plain, and `$schema` goes: jsonschema picks the class
      for a subschema by its `$schema`, so a `$ref` to a resource naming
      draft 2020-12 (the root, for one) would leave this module's class for
      the stock one, which knows no Decimal integers. Everything is
      compiled as draft 2020-12 anyway.
    """
    definitions = schema.get("$defs") if isinstance(schema, dict) else None
    definitions = definitions if isinstance(definitions, dict) else {}
    inlined: dict[str, Any] = {}
    expanding: set[str] = set()

    def definition(ref: Any) -> Any:
        match = _LOCAL_DEF.match(ref) if isinstance(ref, str) else None
        name = match.group(1) if match else None
        target = definitions.get(name)
        if not isinstance(target, dict) or name in expanding or _RESOURCE_KEYWORDS & target.keys():
            return None
        if name not in inlined:
            expanding.add(name)
            inlined[name] = walk(target, True)
            expanding.discard(name)
        return inlined[name]

    def walk(node: Any, in_root: bool) -> Any:
        if not isinstance(node, dict):
            return _plain_numbers(node)
        # Inside an embedded resource "#/$defs/..." means that resource's.
        in_root = in_root and not ("$id" in node and node is not schema)
        if in_root and "$ref" in node and node.keys() - _ANNOTATIONS == {"$ref"}:
            target = definition(node["$ref"])
            if target is not None:
                return target
        prepared = {}
        for keyword, value in node.items():
            if keyword == "$schema" or keyword in _ANNOTATIONS:
                continue
            if keyword in _SUBSCHEMA:
                value = walk(value, in_root)
            elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
                value = [walk(v, in_root) for v in value]
            elif keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
                value = {name: walk(v, in_root) for name, v in value.items()}
            else:
                value = _plain_numbers(value)
            prepared[keyword] = value
        return prepared

    return walk(schema, True)


# --- patterns ----------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compiles an ECMA-262 pattern, the dialect JSON Schema names, with re:
    `$` outside a character class becomes \\Z (re's `$` also matches before
    a final newline), `(?<name>` becomes `(?P<name>`, and \\d and \\w match
    ASCII only."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        token, step = pattern[i], 1
        if token == "\\":
            token, step = pattern[i : i + 2], 2
        elif in_class:
            in_class = token != "]"
        elif token == "[":
            in_class = True
        elif token == "$":
            token = r"\Z"
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            token, step = "(?P<", 3
        out.append(token)
        i += step
    return re.compile("".join(out), re.ASCII)


# --- formats -----------------------------------------------------------------

_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_TIME = r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
_DATE_RE = re.compile(_DATE + r"\Z", re.ASCII)
_TIME_RE = re.compile(_TIME + r"\Z", re.ASCII)
_DATE_TIME_RE = re.compile(_DATE + "[Tt ]" + _TIME + r"\Z", re.ASCII)
_URI_CHARS = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]]|%[0-9A-Fa-f]{2})*"
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:" + _URI_CHARS + r"(?:#" + _URI_CHARS + r")?\Z")
_URI_REFERENCE_RE = re.compile(_URI_CHARS + r"(?:#" + _URI_CHARS + r")?\Z")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\Z")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_JSON_POINTER_RE = re.compile(r"(?:/(?:[^~/]|~[01])*)*\Z")


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _valid_time(hour: str, minute: str, second: str, sign: str | None, offset_hour: str | None,
                offset_minute: str | None) -> bool:
    # RFC 3339 allows a leap second (60); offsets stay below a day.
    return (
        int(hour) < 24 and int(minute) < 60 and int(second) <= 60
        and (sign is None or (int(offset_hour or 0) < 24 and int(offset_minute or 0) < 60))
    )


def _is_date_time(value: str) -> bool:
    match = _DATE_TIME_RE.match(value)
    return bool(match) and _valid_date(*match.group(1, 2, 3)) and _valid_time(*match.group(4, 5, 6, 7, 8, 9))


def _is_date(value: str) -> bool:
    match = _DATE_RE.match(value)
    return bool(match) and _valid_date(*match.groups())


def _is_time(value: str) -> bool:
    match = _TIME_RE.match(value)
    return bool(match) and _valid_time(*match.groups())


def _is_ip(kind: type) -> Any:
    def check(value: str) -> bool:
        try:
            kind(value)
        except ValueError:
            return False
        return "%" not in value  # no IPv6 zone ids

    return check


def _is_regex(value: str) -> bool:
    try:
        _ecma_regex(value)
    except re.error:
        return False
    return True


_FORMAT_CHECKS = {
    "date-time": _is_date_time,
    "date": _is_date,
    "time": _is_time,
    "uri": lambda value: bool(_URI_RE.match(value)),
    "uri-reference": lambda value: bool(_URI_REFERENCE_RE.match(value)),
    "email": lambda value: bool(_EMAIL_RE.match(value)),
    "ipv4": _is_ip(ipaddress.IPv4Address),
    "ipv6": _is_ip(ipaddress.IPv6Address),
    "uuid": lambda value: bool(_UUID_RE.match(value)),
    "regex": _is_regex,
    "json-pointer": lambda value: bool(_JSON_POINTER_RE.match(value)),
}
FORMATS = frozenset(_FORMAT_CHECKS)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for name, check in _FORMAT_CHECKS.items():
        # Formats apply to strings only; other types pass.
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    return checker


FORMAT_CHECKER = _format_checker()


# --- keywords ----------------------------------------------------------------


class _Finding(ValidationError):
    """An error whose message this module wrote."""


_STOCK = Draft202012Validator.VALIDATORS


_TYPE_TESTS = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: _is_integer(None, value),
    "null": lambda value: value is None,
    "number": lambda value: _is_number(None, value),
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}
_TYPE_NAMES = {
    "array": "an array", "boolean": "a boolean", "integer": "an integer", "null": "null",
    "number": "a number", "object": "an object", "string": "a string",
}


def _type(validator, types, instance, schema) -> Iterator[ValidationError]:
    # jsonschema's own check goes through a persistent map for every value;
    # this is the hottest keyword of all.
    types = types if isinstance(types, list) else [types]
    for name in types:
        test = _TYPE_TESTS.get(name)
        if test(instance) if test else validator.is_type(instance, name):
            return
    yield _Finding("must be " + " or ".join(_TYPE_NAMES.get(t, str(t)) for t in types))


def _required(validator, required, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name in required:
            if name not in instance:
                yield _Finding(f"missing required property {canonical_json(name)}")


def _additional_properties(validator, additional, instance, schema) -> Iterator[ValidationError]:
    if additional is not False:
        yield from _STOCK["additionalProperties"](validator, additional, instance, schema)
        return
    if validator.is_type(instance, "object"):
        for name in instance:
            if not _declared(name, schema):
                yield _Finding("property is not allowed", path=[name])


_FIND_EVALUATED = getattr(_jsonschema_utils, "find_evaluated_property_keys_by_schema", None)


def _unevaluated_properties(validator, unevaluated, instance, schema) -> Iterator[ValidationError]:
    if unevaluated is not False or _FIND_EVALUATED is None:
        yield from _STOCK["unevaluatedProperties"](validator, unevaluated, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    # Members named by this very schema count as evaluated even when their
    # value is invalid (jsonschema 4.10 would report them twice), and the
    # costly search through $ref and applicators runs only for the rest.
    rest = [name for name in instance if not _declared(name, schema)]
    if rest and "additionalProperties" not in schema:
        # Without this very keyword, which finds nothing: it would try each
        # member against the false schema, whose error message reprs the
        # member's whole value.
        others = {k: v for k, v in schema.items() if k != "unevaluatedProperties"}
        evaluated = set(_FIND_EVALUATED(validator, instance, others))
        for name in rest:
            if name not in evaluated:
                yield _Finding("property is not allowed", path=[name])


def _declared(name: str, schema: dict) -> bool:
    return name in schema.get("properties", ()) or any(
        _ecma_regex(pattern).search(name) for pattern in schema.get("patternProperties", ())
    )


def _pattern_properties(validator, patterns, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for pattern, subschema in patterns.items():
            regex = _ecma_regex(pattern)
            for name, value in instance.items():
                if regex.search(name):
                    yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _pattern(validator, pattern, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield _Finding(f"must match pattern {pattern}")


def _enum(validator, enum, instance, schema) -> Iterator[ValidationError]:
    if not any(_json_equal(instance, option) for option in enum):
        yield _Finding("must be one of " + ", ".join(canonical_json(option) for option in enum))


def _const(validator, const, instance, schema) -> Iterator[ValidationError]:
    if not _json_equal(instance, const):
        yield _Finding(f"must be {canonical_json(const)}")


def _multiple_of(validator, divisor, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "number"):
        return
    number, step = _decimal(instance), _decimal(divisor)
    # Enough digits that the quotient's integer part always fits.
    precision = max(28, number.adjusted() - step.adjusted() + 30)
    with decimal.localcontext(decimal.Context(prec=precision)):
        if number % step != 0:
            yield _Finding(f"must be a multiple of {canonical_json(divisor)}")


def _items(validator, items, instance, schema) -> Iterator[ValidationError]:
    if items is not False:
        yield from _STOCK["items"](validator, items, instance, schema)
        return
    if validator.is_type(instance, "array"):
        for index in range(len(schema.get("prefixItems", ())), len(instance)):
            yield _Finding("item is not allowed", path=[index])


_FIND_EVALUATED_ITEMS = getattr(_jsonschema_utils, "find_evaluated_item_indexes_by_schema", None)


def _unevaluated_items(validator, unevaluated, instance, schema) -> Iterator[ValidationError]:
    # jsonschema reports them all at the array, in a message of their
    # reprs, which 4.10 sorts first (and fails on null beside null).
    if _FIND_EVALUATED_ITEMS is None:
        yield from _STOCK["unevaluatedItems"](validator, unevaluated, instance, schema)
        return
    if validator.is_type(instance, "array"):
        evaluated = set(_FIND_EVALUATED_ITEMS(validator, instance, schema))
        for index in range(len(instance)):
            if index not in evaluated:
                yield _Finding("item is not allowed", path=[index])


def _dependent_required(validator, dependencies, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name, needed in dependencies.items():
            if name in instance:
                for other in needed:
                    if other not in instance:
                        yield _Finding(
                            f"missing property {canonical_json(other)}, required when"
                            f" {canonical_json(name)} is present"
                        )


def _property_names(validator, names, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name in instance:
            for error in validator.descend(name, names):
                yield _Finding(f"property name {canonical_json(name)} {_message(error)}", path=[name])


def _reference(keyword: str) -> Any:
    stock = _STOCK[keyword]

    def reference(validator, ref, instance, schema) -> Iterator[ValidationError]:
        try:
            yield from stock(validator, ref, instance, schema)
        except _REFERENCE_ERRORS:
            raise InvalidSchemaError(f"cannot resolve schema reference {ref}") from None

    return reference


_Validator = jsonschema.validators.extend(
    Draft202012Validator,
    validators={
        "type": _type,
        "required": _required,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "enum": _enum,
        "const": _const,
        "multipleOf": _multiple_of,
        "items": _items,
        "unevaluatedItems": _unevaluated_items,
        "dependentRequired": _dependent_required,
        "propertyNames": _property_names,
        "$ref": _reference("$ref"),
        "$dynamicRef": _reference("$dynamicRef"),
    },
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"number": _is_number, "integer": _is_integer}
    ),
    format_checker=FORMAT_CHECKER,
)


# --- references ----------------------------------------------------------------

if "registry" in inspect.signature(_Validator).parameters:  # jsonschema >= 4.18
    import referencing.exceptions

    def _compile(schema: Any) -> Any:
        # An empty registry retrieves nothing: only the schema and the
        # bundled meta-schemas resolve.
        return _Validator(schema, format_checker=FORMAT_CHECKER, registry=referencing.Registry())

    _REFERENCE_ERRORS: tuple[type[Exception], ...] = (
        _jsonschema_exceptions._RefResolutionError,
        referencing.exceptions.Unresolvable,
    )
else:  # jsonschema 4.10 (Debian 12)

    class _LocalResolver(jsonschema.RefResolver):
        def resolve_remote(self, uri: str) -> Any:
            raise _jsonschema_exceptions.RefResolutionError(f"{uri} is outside the schema")

    def _compile(schema: Any) -> Any:
        resolver = _LocalResolver.from_schema(schema, id_of=_Validator.ID_OF)
        return _Validator(schema, resolver=resolver, format_checker=FORMAT_CHECKER)

    _REFERENCE_ERRORS = (_jsonschema_exceptions.RefResolutionError,)


_META_VALIDATOR = _compile(Draft202012Validator.META_SCHEMA)


# --- API -----------------------------------------------------------------------


def validator_for(schema: Any, cache: dict | None = None) -> Any:
    """A compiled draft 2020-12 validator for `schema`, with format checks.

    `cache` (e.g. a dict kept in PL/Python's GD) maps the schema's content
    hash to its validator, so an edited schema is compiled afresh and never
    served stale. The cache keeps at most CACHE_LIMIT validators. Raises
    InvalidSchemaError for a schema that check_schema() faults.
    """
    return _compiled(schema, cache)[1]


# Content hashes of recently seen schema objects, which are never changed in
# place: a write asks for its schema's hash twice, and each costs ~0.2 ms.
_KEYS: OrderedDict[int, tuple[Any, str]] = OrderedDict()


def schema_key(schema: Any) -> str:
    """The schema's content hash, remembered for the same schema object."""
    held = _KEYS.get(id(schema))
    if held is None or held[0] is not schema:
        held = _KEYS[id(schema)] = (schema, content_hash(schema))
        while len(_KEYS) > CACHE_LIMIT:
            _KEYS.popitem(last=False)
    return held[1]


def _compiled(schema: Any, cache: dict | None) -> tuple[str, Any]:
    key = schema_key(schema)
    if cache is not None and key in cache:
        return key, cache[key]
    problems = check_schema(schema)
    if problems:
        raise InvalidSchemaError("invalid schema: " + "; ".join(problems[:5]))
    validator = _compile(_prepare(schema))
    if cache is not None:
        validators = [k for k in cache if isinstance(k, str) and k.startswith("sha256:")]
        for old in validators[: max(0, len(validators) - CACHE_LIMIT + 1)]:
            del cache[old]
            cache.pop(("plans", old), None)
        cache[key] = validator
    return key, validator


def schema_errors(doc: Any, schema: Any, cache: dict | None = None) -> list[Error]:
    """Every place where `doc` breaks `schema`, as (pointer, message) pairs,
    each once, sorted by pointer (array indexes as numbers)."""
    return _report(validator_for(schema, cache), doc)


def schema_errors_after_patch(
    doc: Any, schema: Any, touched: Iterable[str], cache: dict | None = None
) -> list[Error]:
    """schema_errors(doc, schema) for a patched document whose previous
    version had none, found by looking only where the patch wrote.

    `touched` holds the JSON pointer, in `doc`, of every value the patch
    added, replaced or removed; a removed value's pointer may now name
    another value or nothing. The walk goes from the root down to each
    touched pointer. On the way it checks each value's own keywords
    (required, type, closed members, array bounds...) but not the members
    it is not heading for; at a touched pointer it validates the whole
    value. A member the walk skips is the value it was before, under the
    same subschema, so it is still valid (see _plan for why).

    The answer equals schema_errors() only if the previous version was
    valid against this very schema: callers must not pass a patch of a
    document validated against another schema.
    """
    key, validator = _compiled(schema, cache)
    trie = _trie(touched)
    plans = _plans_for(validator, key, cache)
    if trie is _WHOLE or plans is None:
        return _report(validator, doc)
    found: set[Error] = set()
    try:
        _walk(validator, plans, doc, [validator.schema], trie, [], found)
    except _REFERENCE_ERRORS as exc:
        raise InvalidSchemaError(f"cannot resolve a schema reference: {exc}") from None
    return sorted(found, key=_order)


def check_schema(schema: Any) -> list[str]:
    """What makes `schema` an invalid draft 2020-12 schema: one "pointer:
    message" per error, empty for a valid schema. The meta-schema alone
    cannot see unresolvable references; those surface when validating."""
    return [f"{pointer or '(root)'}: {message}" for pointer, message in _report(_META_VALIDATOR, _plain_numbers(schema))]


# --- incremental validation -----------------------------------------------------
#
# A value's errors are those of each keyword of its schema. The keywords
# that merely hand a member or an element to a subschema (properties,
# patternProperties, additionalProperties, items) and those that hand the
# value itself on unchanged ($ref, allOf) pass their subschemas' errors up
# untouched, so a valid document has no error below any of them, and a
# value that a patch left alone, reached through them alone, keeps no
# error. Every other keyword is checked on the value itself, whole, when
# the walk passes through it: that is exact, and cheap unless the schema
# puts a value-wide keyword (anyOf, contains, uniqueItems...) high up.


_WHOLE = None  # a touched pointer in the trie: validate the value whole
# Keywords that resolve by dynamic scope, or make a resource with its own
# base URI: a subschema checked apart from its path would resolve them
# differently, so such schemas are always validated whole.
_SCOPED = frozenset({"$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor"})


class _Plan(NamedTuple):
    """How a subschema applies to a value, split for the walk."""

    own: Any  # what to check on the value itself, or None when nothing
    also: tuple  # more schemas of the same value: its $ref's target, allOf's members
    properties: dict  # member name -> schema
    patterns: tuple  # (ECMA-262 pattern, schema) for member names
    additional: Any  # schema of members neither of those names, or None
    declared: dict  # properties and patternProperties, as additionalProperties reads them
    items: Any  # schema of every element, or None


class _Plans:
    """The plans of one compiled schema, by the id of each subschema, which
    the validator keeps alive."""

    def __init__(self, validator: Any) -> None:
        self.validator = validator
        self._root = validator.schema
        self._plans: dict[int, _Plan] = {}

    def of(self, schema: dict) -> _Plan:
        plan = self._plans.get(id(schema))
        if plan is None:
            plan = self._plans[id(schema)] = _plan(schema, self._root)
        return plan


def _plans_for(validator: Any, key: str, cache: dict | None) -> _Plans | None:
    """The validator's plans; None when its schema cannot be split."""
    plans = cache.get(("plans", key)) if cache is not None else None
    if plans is None or (plans and plans.validator is not validator):
        plans = _Plans(validator) if _splittable(validator.schema) else False
        if cache is not None:
            cache[("plans", key)] = plans
    return plans or None


def _splittable(root: Any) -> bool:
    if not isinstance(root, dict):
        return False
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        node, top = stack.pop()
        if isinstance(node, dict):
            # Over-cautious on purpose: a property or an enum value named
            # "$id" also counts.
            if _SCOPED & node.keys() or (not top and "$id" in node):
                return False
            stack.extend((value, False) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, False) for value in node)
    return True


def _plan(schema: dict, root: dict) -> _Plan:
    """Splits `schema` into what it asserts about a value itself and the
    subschemas it hands each member or element to.

    `own` is `schema` without its member and element subschemas (properties
    keep their names where names matter: for additionalProperties or a
    closed object), and without the $ref and allOf that `also` takes over.
    Each keyword of `own` reads only keyword names and prefixItems' length
    besides its own value, so it finds what it finds in `schema`. Two
    keywords read more, and pin the rest in place:

    - unevaluatedProperties: false (this module's check) reports the
      members that neither properties nor patternProperties name and that
      jsonschema's search for evaluated members does not find; that search
      goes through $ref, allOf, anyOf, oneOf, if and dependentSchemas on
      the value itself, which `own` keeps whole; jsonschema 4.10's also
      validates each member against the patternProperties object itself,
      kept whole too. The member subschemas it reads in properties only
      name members it never reports.
    - unevaluatedItems, or an unevaluatedProperties subschema: the schema
      is checked whole.
    """
    unevaluated = schema.get("unevaluatedProperties", True)
    if (
        schema.get("unevaluatedItems", True) is not True
        or not (unevaluated is True or unevaluated is False)
        or (unevaluated is False and _FIND_EVALUATED is None)
    ):
        return _Plan(schema, (), {}, (), None, {}, None)
    closed = unevaluated is False
    own = {k: v for k, v in schema.items() if k not in ("unevaluatedProperties", "unevaluatedItems")}
    if closed:
        own["unevaluatedProperties"] = False
    also: list = []
    if not closed:
        target = _local_target(own.get("$ref"), root)
        if target is not None:
            del own["$ref"]
            also.append(target)
        if isinstance(own.get("allOf"), list):
            also.extend(own.pop("allOf"))

    properties = schema.get("properties", {})
    properties = properties if isinstance(properties, dict) else {}
    patterns = schema.get("patternProperties", {})
    patterns = patterns if isinstance(patterns, dict) else {}
    additional = schema.get("additionalProperties", True)
    names_matter = closed or additional is not True
    if "properties" in own:
        if names_matter:
            own["properties"] = dict.fromkeys(properties, True)
        else:
            del own["properties"]
    pattern_rules = tuple(patterns.items())
    if "patternProperties" in own:
        if closed and "additionalProperties" not in schema:
            pattern_rules = ()
        elif names_matter:
            own["patternProperties"] = dict.fromkeys(patterns, True)
        else:
            del own["patternProperties"]
    additional_rule = None
    if isinstance(additional, dict):
        own["additionalProperties"] = True
        additional_rule = additional
    elif additional is True and not closed:
        own.pop("additionalProperties", None)

    items = schema.get("items")
    items_rule = None
    if "prefixItems" not in schema and "items" in own:
        if isinstance(items, dict):
            items_rule = items
        if items is not False:
            del own["items"]

    asserts = any(keyword in _Validator.VALIDATORS for keyword in own)
    declared = {"properties": properties, "patternProperties": patterns}
    return _Plan(
        own if asserts else None, tuple(also), properties, pattern_rules, additional_rule, declared, items_rule
    )


def _member_schemas(plan: _Plan, name: str) -> Iterator[Any]:
    if name in plan.properties:
        yield plan.properties[name]
    for pattern, subschema in plan.patterns:
        if _ecma_regex(pattern).search(name):
            yield subschema
    # additionalProperties decides with Python's re, as jsonschema does.
    if plan.additional is not None:
        if next(_jsonschema_utils.find_additional_properties({name: None}, plan.declared), None) is not None:
            yield plan.additional


def _local_target(ref: Any, root: dict) -> Any:
    """The subschema a same-document `$ref` names, or None for another."""
    if ref == "#":
        return root
    if not isinstance(ref, str) or not ref.startswith("#/") or "%" in ref:
        return None
    node: Any = root
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, (dict, bool)) else None


def _trie(pointers: Iterable[str]) -> Any:
    """The pointers as nested dicts of reference tokens, _WHOLE at each
    pointer's end; _WHOLE for the whole document."""
    trie: dict = {}
    for pointer in pointers:
        if pointer == "":
            return _WHOLE
        if not isinstance(pointer, str) or not pointer.startswith("/"):
            raise ValueError(f"{pointer!r} is not a json pointer")
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
        node = trie
        for token in tokens[:-1]:
            node = node.setdefault(token, {})
            if node is _WHOLE:
                break
        else:
            node[tokens[-1]] = _WHOLE
    return trie


def _walk(validator: Any, plans: _Plans, value: Any, schemas: list, trie: Any, path: list, found: set) -> None:
    if trie is _WHOLE:
        for schema in schemas:
            _collect(validator.descend(value, schema), path, found)
        return
    applied: list[_Plan] = []
    seen: set[int] = set()
    pending = list(schemas)
    while pending:
        schema = pending.pop()
        if not isinstance(schema, dict):
            _collect(validator.descend(value, schema), path, found)  # true or false
        elif id(schema) not in seen:
            seen.add(id(schema))
            plan = plans.of(schema)
            if plan.own is not None:
                _collect(validator.descend(value, plan.own), path, found)
            pending.extend(plan.also)
            applied.append(plan)
    if isinstance(value, dict):
        for name, below in trie.items():
            if name in value:
                subschemas = [s for plan in applied for s in _member_schemas(plan, name)]
                if subschemas:
                    _walk(validator, plans, value[name], subschemas, below, [*path, name], found)
    elif isinstance(value, list):
        for token, below in trie.items():
            index = _array_index(token)
            if index is not None and index < len(value):
                subschemas = [plan.items for plan in applied if plan.items is not None]
                if subschemas:
                    _walk(validator, plans, value[index], subschemas, below, [*path, index], found)


def _array_index(token: str) -> int | None:
    # RFC 6901, as odl_db.jsonpatch reads it: no sign, no leading zero.
    if token.isdigit() and token.isascii() and len(token) < 20 and (token[0] != "0" or token == "0"):
        return int(token)
    return None


def _collect(errors: Iterable[ValidationError], path: list, found: set) -> None:
    for error in errors:
        found.add((_pointer([*path, *error.absolute_path]), _message(error)))


# --- reporting -----------------------------------------------------------------


def _report(validator: Any, instance: Any) -> list[Error]:
    try:
        found = {(_pointer(e.absolute_path), _message(e)) for e in validator.iter_errors(instance)}
    except _REFERENCE_ERRORS as exc:
        raise InvalidSchemaError(f"cannot resolve a schema reference: {exc}") from None
    return sorted(found, key=_order)


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in path)


def _order(error: Error) -> tuple:
    # Array indexes sort as numbers, so /instances/2 comes before /instances/10.
    tokens = error[0].split("/")[1:] if error[0] else []
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens), error[1]


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = {
    "minLength": ("at least", "character"), "maxLength": ("at most", "character"),
    "minItems": ("at least", "item"), "maxItems": ("at most", "item"),
    "minProperties": ("at least", "property"), "maxProperties": ("at most", "property"),
}


def _message(error: ValidationError) -> str:
    keyword, value = error.validator, error.validator_value
    if isinstance(error, _Finding):
        return error.message
    if keyword == "type":  # from the stock class, which checks the meta-schemas
        types = value if isinstance(value, list) else [value]
        return "must be " + " or ".join(_TYPE_NAMES.get(t, str(t)) for t in types)
    if keyword in _BOUNDS:
        return f"must be {_BOUNDS[keyword]} {canonical_json(value)}"
    if keyword in _COUNTS:
        bound, noun = _COUNTS[keyword]
        plural = "properties" if noun == "property" else noun + "s"
        return f"must have {bound} {canonical_json(value)} {noun if value == 1 else plural}"
    if keyword == "format":
        return f"must be a valid {value}"
    if keyword == "uniqueItems":
        return "items must be unique"
    if keyword == "anyOf":
        return "must match at least one of the allowed schemas"
    if keyword == "oneOf":
        return "must match exactly one of the allowed schemas"
    if keyword == "contains":
        return "must contain an item that matches the schema"
    if keyword == "not":
        return "must not match the forbidden schema"
    if keyword is None:  # the false schema
        return "no value is allowed here"
    text = error.message
    return text[:1].lower() + text[1:]
