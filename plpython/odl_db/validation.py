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

import datetime
import decimal
import functools
import inspect
import ipaddress
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema import _utils as _jsonschema_utils
from jsonschema import exceptions as _jsonschema_exceptions

from odl_db.canonical import canonical_json, content_hash

__all__ = [
    "FORMATS",
    "SUPPORTED_VERSIONS",
    "InvalidSchemaError",
    "check_schema",
    "integrity_errors",
    "schema_errors",
    "validator_for",
]

SUPPORTED_VERSIONS = frozenset({"4.1"})
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


def _unevaluated_properties(validator, unevaluated, instance, schema) -> Iterator[ValidationError]:
    find = getattr(_jsonschema_utils, "find_evaluated_property_keys_by_schema", None)
    if unevaluated is not False or find is None:
        yield from _STOCK["unevaluatedProperties"](validator, unevaluated, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    # Members named by this very schema count as evaluated even when their
    # value is invalid (jsonschema 4.10 would report them twice), and the
    # costly search through $ref and applicators runs only for the rest.
    rest = [name for name in instance if not _declared(name, schema)]
    if rest and "additionalProperties" not in schema:
        evaluated = set(find(validator, instance, schema))
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
    key = content_hash(schema)
    if cache is not None and key in cache:
        return cache[key]
    problems = check_schema(schema)
    if problems:
        raise InvalidSchemaError("invalid schema: " + "; ".join(problems[:5]))
    validator = _compile(_prepare(schema))
    if cache is not None:
        validators = [k for k in cache if isinstance(k, str) and k.startswith("sha256:")]
        for old in validators[: max(0, len(validators) - CACHE_LIMIT + 1)]:
            del cache[old]
        cache[key] = validator
    return validator


def schema_errors(doc: Any, schema: Any, cache: dict | None = None) -> list[Error]:
    """Every place where `doc` breaks `schema`, as (pointer, message) pairs,
    each once, sorted by pointer (array indexes as numbers)."""
    return _report(validator_for(schema, cache), doc)


def check_schema(schema: Any) -> list[str]:
    """What makes `schema` an invalid draft 2020-12 schema: one "pointer:
    message" per error, empty for a valid schema. The meta-schema alone
    cannot see unresolvable references; those surface when validating."""
    return [f"{pointer or '(root)'}: {message}" for pointer, message in _report(_META_VALIDATOR, _plain_numbers(schema))]


def integrity_errors(doc: Any, supported_versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[Error]:
    """The rules beyond the schema: `schema_version` is supported, instance
    ids are unique (each repeat is reported) and every connection end names
    an existing instance. Shapes the schema refuses are skipped here."""
    if not isinstance(doc, dict):
        return [("", "document must be an object")]
    errors: list[Error] = []
    supported = sorted(supported_versions)
    if "schema_version" not in doc:
        errors.append(("", "missing schema_version"))
    elif doc["schema_version"] not in supported:
        known = f" (supported: {', '.join(supported)})" if supported else ""
        errors.append(("/schema_version", f"unsupported schema version {canonical_json(doc['schema_version'])}{known}"))

    first_seen: dict[str, str] = {}
    instances = doc.get("instances")
    for i, instance in enumerate(instances if isinstance(instances, list) else ()):
        ident = instance.get("id") if isinstance(instance, dict) else None
        if not isinstance(ident, str):
            continue
        pointer = f"/instances/{i}/id"
        if ident in first_seen:
            errors.append((pointer, f"duplicate instance id {canonical_json(ident)} (first at {first_seen[ident]})"))
        else:
            first_seen[ident] = pointer

    connections = doc.get("connections")
    for i, connection in enumerate(connections if isinstance(connections, list) else ()):
        if not isinstance(connection, dict):
            continue
        for end in ("from", "to"):
            target = connection.get(end)
            ident = target.get("instance_id") if isinstance(target, dict) else None
            if isinstance(ident, str) and ident not in first_seen:
                errors.append((f"/connections/{i}/{end}/instance_id", f"unknown instance {canonical_json(ident)}"))
    return sorted(errors, key=_order)


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
