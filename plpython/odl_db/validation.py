"""JSON Schema (draft 2020-12) validation, by jsonschema-rs: the Rust
`jsonschema` crate that pg_jsonschema is built on, installed for the
server's Python by scripts/install-deps.

- Two uses. Documents are checked against their registered ODL-SD schema
  with `format` asserted (schema_errors and schema_errors_after_patch, for
  the writer and odl_validate_document). The pg_jsonschema API
  (instance_errors) follows draft 2020-12: `format` is an annotation unless
  the schema's meta-schema opts into the format-assertion vocabulary.
- Numbers may be Decimal, int or float: the engine compares them by value.
- References resolve inside the schema and the bundled meta-schemas only:
  a remote `$ref` or `$schema` is refused (InvalidSchemaError), never
  fetched.
- Patterns run on the crate's regex engines: the `regex` crate (linear
  time) for plain patterns, fancy-regex with a backtrack limit for
  lookaround and backreferences, so no pattern hangs.
- Messages are written here from each error's keyword, so they never show
  a Python repr nor the instance, and read the same everywhere.
- JSON text is parsed by parse_json, which refuses nesting deeper than
  MAX_DEPTH with TooDeepError instead of recursing without bound.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import jsonschema_rs
import orjson

from odl_db.canonical import canonical_json, content_hash
from odl_db.integrity import SUPPORTED_VERSIONS, integrity_errors  # re-exported: they moved there

__all__ = [
    "MAX_DEPTH",
    "SUPPORTED_VERSIONS",
    "InvalidSchemaError",
    "TooDeepError",
    "check_schema",
    "instance_errors",
    "integrity_errors",
    "parse_json",
    "schema_errors",
    "schema_errors_after_patch",
    "schema_errors_text",
    "schema_key",
    "validator_for",
]

CACHE_LIMIT = 64  # compiled validators kept per cache; schemas are few
MAX_DEPTH = 1024  # nesting parse_json accepts: orjson's limit (json.loads stops near 1000)
META_SCHEMA = "https://json-schema.org/draft/2020-12/schema"

Error = tuple[str, str]  # (RFC 6901 pointer, message)


class InvalidSchemaError(ValueError):
    """The schema cannot be applied: it breaks the draft 2020-12
    meta-schema, or one of its references cannot be resolved."""


class TooDeepError(ValueError):
    """JSON text nests deeper than MAX_DEPTH."""


# --- JSON text ---------------------------------------------------------------


def parse_json(text: str | bytes) -> Any:
    """The value of JSON text: numbers as int and float (orjson), or, for an
    integer beyond 64 bits, as int and Decimal (json). Raises TooDeepError
    past MAX_DEPTH and ValueError for text that is not JSON."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        if "depth" in str(error) or "recursion" in str(error):
            raise TooDeepError(f"JSON nests deeper than {MAX_DEPTH} levels") from None
        try:  # orjson refuses integers beyond 64 bits, json reads them
            value = json.loads(text, parse_float=Decimal)
        except RecursionError:
            raise TooDeepError(f"JSON nests deeper than {MAX_DEPTH} levels") from None
        except ValueError as error:
            raise ValueError(f"invalid JSON: {error}") from None
    return value


# --- compiling -----------------------------------------------------------------


def _refuse(uri: str) -> Any:
    raise LookupError(f"remote reference {uri} is not fetched")


def _compile(schema: Any, assert_formats: bool | None) -> Any:
    if not isinstance(schema, (dict, bool)):
        raise InvalidSchemaError("invalid schema: (root): must be an object or a boolean")
    problems = check_schema(schema)
    if problems:
        raise InvalidSchemaError("invalid schema: " + "; ".join(problems[:5]))
    try:
        return jsonschema_rs.validator_for(schema, validate_formats=assert_formats, retriever=_refuse)
    except jsonschema_rs.ValidationError as error:
        raise InvalidSchemaError(f"cannot resolve a schema reference: {error.message}") from None
    except (ValueError, TypeError) as error:
        raise InvalidSchemaError(f"invalid schema: {error}") from None


# Formats asserted: a `pattern` must be a valid regex, an `$id` a URI reference.
_META = jsonschema_rs.validator_for({"$ref": META_SCHEMA}, validate_formats=True, retriever=_refuse)


def check_schema(schema: Any) -> list[str]:
    """What makes `schema` an invalid draft 2020-12 schema: one "pointer:
    message" per error, empty for a valid schema. The meta-schema alone
    cannot see unresolvable references; those surface when compiling."""
    return [f"{pointer or '(root)'}: {message}" for pointer, message in _report(_META, schema)]


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


def _cached(cache: dict | None, key: tuple, make: Any) -> Any:
    """`make()`, kept in cache["validators"] under `key` (a content hash and
    the format mode), so an edited schema is compiled afresh, never stale."""
    if cache is None:
        return make()
    validators = cache.setdefault("validators", OrderedDict())
    if key not in validators:
        validators[key] = make()
        while len(validators) > CACHE_LIMIT:
            validators.popitem(last=False)
    validators.move_to_end(key)
    return validators[key]


def validator_for(schema: Any, cache: dict | None = None, *, assert_formats: bool | None = True) -> Any:
    """A compiled jsonschema_rs validator for `schema`; `assert_formats`
    None leaves `format` to the draft (an annotation in 2020-12). Raises
    InvalidSchemaError for a schema that cannot be applied."""
    return _cached(cache, (schema_key(schema), assert_formats), lambda: _compile(schema, assert_formats))


# --- validating ------------------------------------------------------------------


def schema_errors(doc: Any, schema: Any, cache: dict | None = None) -> list[Error]:
    """Every place where `doc` breaks `schema`, formats asserted, as
    (pointer, message) pairs, each once, sorted by pointer (array indexes
    as numbers)."""
    return _report(validator_for(schema, cache), doc)


# Keywords that neither constrain an instance nor look inside it.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default", "deprecated"}
)


def schema_errors_after_patch(doc: Any, schema: Any, previous: Any, cache: dict | None = None) -> list[Error]:
    """schema_errors(doc, schema) for `doc`, a patched copy of `previous`
    that was valid against `schema`: each subtree the patch did not change
    is the very same object in both (jsonpatch.apply's copy on write).

    Where the schema allows, only what changed is validated: when the root
    only names its members (type, properties, required, a boolean
    additionalProperties) and the patch kept them, each changed member
    alone, by its subschema; and of a member whose subschema only types its
    items, each element that is not one of the old elements. Anything else
    is validated whole. A 10 MB document changed in ten places costs
    milliseconds instead of ~50 ms."""
    root = schema if isinstance(schema, dict) else {}
    members = root.get("properties")
    if (
        not isinstance(doc, dict)
        or not isinstance(previous, dict)
        or doc.keys() != previous.keys()
        or not isinstance(members, dict)
        or not set(root) <= _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}
        or root.get("type", "object") != "object"
        or not isinstance(root.get("additionalProperties", True), bool)
        or not set(doc) <= set(members)
    ):
        return schema_errors(doc, schema, cache)
    validators = _cached(cache, (schema_key(schema), "map"), lambda: _map(schema))
    found: list[Error] = []
    for name, value in doc.items():
        old = previous[name]
        if value is old:
            continue
        at = "/" + name.replace("~", "~0").replace("/", "~1")
        fragment = "#/properties/" + _fragment(name)
        member = members[name]
        if (
            isinstance(member, dict)
            and set(member) <= _ANNOTATIONS | {"type", "items"}
            and member.get("type", "array") == "array"
            and isinstance(value, list)
            and isinstance(old, list)
        ):
            items = validators.get(fragment + "/items") if "items" in member else None
            if items is not None:
                unchanged = {id(element) for element in old}
                for index, element in enumerate(value):
                    if id(element) not in unchanged:
                        found += [(f"{at}/{index}{pointer}", message) for pointer, message in _report(items, element)]
            continue
        found += [(at + pointer, message) for pointer, message in _report(validators.get(fragment), value)]
    return sorted(found, key=_order)


def _fragment(name: str) -> str:
    """A member name as a step of a URI-fragment JSON pointer."""
    return urllib.parse.quote(name.replace("~", "~0").replace("/", "~1"), safe="~!$&'()*+,;=:@")


def _map(schema: Any) -> Any:
    """Validators for every subschema, by URI-fragment pointer; formats asserted."""
    _compile(schema, True)  # refuses an invalid schema as validator_for does
    return jsonschema_rs.validator_map_for(schema, validate_formats=True, retriever=_refuse)


def schema_errors_text(doc_text: str | bytes, schema: Any, cache: dict | None = None) -> list[Error]:
    """schema_errors() for a document given as JSON text (parse_json)."""
    return schema_errors(parse_json(doc_text), schema, cache)


def instance_errors(schema_text: str, instance_text: str, cache: dict | None = None) -> list[Error]:
    """pg_jsonschema's validation: the errors of the instance against the
    schema, both JSON text, with `format` as the draft has it. Raises
    InvalidSchemaError, TooDeepError, or ValueError for anything else the
    engine cannot take."""
    key = ("text:" + hashlib.sha256(schema_text.encode("utf-8", "surrogatepass")).hexdigest(), None)
    validator = _cached(cache, key, lambda: _compile(parse_json(schema_text), None))
    return _report(validator, parse_json(instance_text))


def _report(validator: Any, instance: Any) -> list[Error]:
    found: set[Error] = set()
    try:
        for error in validator.iter_errors(instance):
            _collect(error, found)
    except jsonschema_rs.ValidationError as error:  # a reference found unresolvable late
        raise InvalidSchemaError(f"cannot resolve a schema reference: {error.message}") from None
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"cannot validate the value: {error}") from None
    return sorted(found, key=_order)


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in path)


def _order(error: Error) -> tuple:
    # Array indexes sort as numbers, so /instances/2 comes before /instances/10.
    tokens = error[0].split("/")[1:] if error[0] else []
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens), error[1]


# --- messages ----------------------------------------------------------------------

_TYPE_NAMES = {
    "array": "an array", "boolean": "a boolean", "integer": "an integer", "null": "null",
    "number": "a number", "object": "an object", "string": "a string",
}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = {
    "minLength": ("at least", "character"), "maxLength": ("at most", "character"),
    "minItems": ("at least", "item"), "maxItems": ("at most", "item"),
    "minProperties": ("at least", "property"), "maxProperties": ("at most", "property"),
    "minContains": ("at least", "matching item"), "maxContains": ("at most", "matching item"),
}
_FIXED = {
    "anyOf": "must match at least one of the allowed schemas",
    "oneOf": "must match exactly one of the allowed schemas",
    "contains": "must contain the required number of items that match the schema",
    "not": "must not match the forbidden schema",
    "uniqueItems": "items must be unique",
    "falseSchema": "no value is allowed here",
}


def _collect(error: Any, found: set[Error]) -> None:
    path = list(error.instance_path)
    kind = error.kind
    fields = kind.as_dict()
    name = kind.name
    if name in ("additionalProperties", "unevaluatedProperties"):
        for member in fields.get("unexpected", ()):
            found.add((_pointer([*path, member]), "property is not allowed"))
        return
    if name == "unevaluatedItems":  # the engine names the items by value, not index
        found.add((_pointer(path), "has items that no schema evaluates (unevaluatedItems)"))
        return
    if name == "additionalItems":
        found.add((_pointer(path), f"must have at most {fields.get('limit')} items"))
        return
    if name == "propertyNames":
        inner = fields.get("error")
        names = inner.instance if inner is not None else None
        text = _message(inner.kind.name, inner.kind.as_dict()) if inner is not None else "is not allowed"
        at = [*path, names] if isinstance(names, str) else path
        found.add((_pointer(at), f"property name {_json(names)} {text}"))
        return
    where = list(error.schema_path)
    if name == "required" and where[-1:] == ["dependentRequired"]:
        found.add((_pointer(path), f"missing property {_json(fields.get('property'))}, required by dependentRequired"))
    elif name == "falseSchema" and where[-1:] == ["items"]:
        found.add((_pointer(path), "item is not allowed"))
    else:
        found.add((_pointer(path), _message(name, fields)))


def _json(value: Any) -> str:
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return json.dumps(value, default=str)


def _message(name: str, fields: dict) -> str:
    if name == "type":
        types = fields.get("types") or []
        return "must be " + " or ".join(_TYPE_NAMES.get(t, str(t)) for t in types)
    if name == "required":
        return f"missing required property {_json(fields.get('property'))}"
    if name in _BOUNDS:
        return f"must be {_BOUNDS[name]} {_json(fields.get('limit'))}"
    if name in _COUNTS:
        bound, noun = _COUNTS[name]
        limit = fields.get("limit")
        plural = "properties" if noun == "property" else noun + "s"
        return f"must have {bound} {limit} {noun if limit == 1 else plural}"
    if name == "const":
        return f"must be {_json(fields.get('expected_value'))}"
    if name == "enum":
        return "must be one of " + ", ".join(_json(option) for option in fields.get("options") or [])
    if name == "multipleOf":
        return f"must be a multiple of {_json(fields.get('multiple_of'))}"
    if name == "pattern":
        if "pattern" not in fields:  # fancy-regex gave up: {"error": "...backtracking count exceeded"}
            return "pattern is too costly to match (backtrack limit reached)"
        return f"must match pattern {fields.get('pattern')}"
    if name == "format":
        return f"must be a valid {fields.get('format')}"
    if name in _FIXED:
        return _FIXED[name]
    if name == "contentEncoding":
        return f"must be encoded as {fields.get('content_encoding')}"
    if name == "contentMediaType":
        return f"must be of media type {fields.get('content_media_type')}"
    if name == "custom":
        return str(fields.get("message"))
    return f"fails {name}"
