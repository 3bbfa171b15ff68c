-- Frozen by tools/srcguard rework: documents_api as released in @v0.1.0.
-- Deploy odl-db:documents_api to pg
-- requires: documents
-- requires: canonical
-- requires: access_api

begin;

-- plpython/odl_db/jsonpatch.py as released in @v0.1.0
call odl.python_install('odl_db.jsonpatch', $odl_source$"""RFC 6902 JSON Patch, applied in place, with the patch that undoes it.

Documents are what the jsonb transform makes of JSON: dict, list, str,
Decimal (or int, float), bool and None. `apply` changes the document it is
given instead of copying it, because documents run to megabytes and patches
to a handful of operations: each operation costs one walk down its pointers.
On error the document is left half-patched, so callers work on a value they
can discard (PL/Python's argument is one) or on their own copy.

The inverse patch is built from what each operation displaced, never by
diffing documents. Each operation is a few primitive steps (add, remove,
replace); each step records its inverse, and the inverse patch is those
records in reverse order.

Decisions where RFC 6902 leaves room, in agreement with the jsonpatch
library unless said otherwise:
- an error that the patch alone shows (a missing or mistyped member of an
  operation, a bad pointer, an unknown op, removing the whole document,
  moving a value into its own child) is `malformed_patch`, and every
  operation is checked for it before any is applied; an empty patch is
  malformed too (jsonpatch accepts it; it raises a conflict for the removal
  of the whole document);
- an error that depends on the document is `path_not_found`: a missing
  member, an index beyond the array, a token that is no array index (`01`,
  `+1`) used on an array, and `-` anywhere but the last token of an `add`
  path (or of a `move` or `copy` destination);
- `test` fails with `test_failed` both when the values differ and when its
  path does not exist, as in jsonpatch, because to a client both mean that
  the document is not in the state it expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, NamedTuple

__all__ = [
    "KINDS",
    "OPERATIONS",
    "PatchError",
    "apply",
    "equal",
    "format_pointer",
    "parse_pointer",
]

KINDS = ("malformed_patch", "too_many_operations", "path_not_found", "test_failed")
OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")

_MISSING = object()
_NUMBERS = (int, float, Decimal)
_BAD_ESCAPE = re.compile("~[^01]|~$")


class PatchError(Exception):
    """A patch that cannot be applied: `kind` is one of KINDS, `index` the
    0-based operation at fault (None for the patch as a whole) and `pointer`
    the JSON pointer at fault (None when there is none)."""

    def __init__(
        self, kind: str, message: str, *, index: int | None = None, pointer: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.index = index
        self.pointer = pointer


class _Operation(NamedTuple):
    index: int
    name: str
    path: str
    tokens: list[str]
    source: str | None  # the "from" member of move and copy
    source_tokens: list[str] | None
    value: Any


def apply(doc: Any, patch: Any, *, max_operations: int = 100) -> tuple[Any, list[dict]]:
    """Apply an RFC 6902 patch; return the patched document and its inverse patch.

    `doc` may be changed in place and is garbage after an error. Values from
    the patch are copied, so neither the patch nor the inverse shares any
    object with the result. The inverse may hold up to twice as many
    operations as the patch, and is empty when the patch only tests.
    """
    operations = _operations(patch, max_operations)
    undo: list[dict] = []
    for op in operations:
        doc = _APPLY[op.name](doc, op, undo)
    undo.reverse()
    return doc, undo


def parse_pointer(text: str) -> list[str]:
    """The reference tokens of an RFC 6901 pointer; "" is the whole document."""
    try:
        return _tokens(text)
    except ValueError as error:
        raise PatchError(
            "malformed_patch", f"{_quote(text)} is not a json pointer: {error}", pointer=text
        ) from None


def _tokens(text: str) -> list[str]:
    if text == "":
        return []
    if text[0] != "/":
        raise ValueError('it does not start with "/"')
    tokens = text[1:].split("/")
    if "~" in text:
        if _BAD_ESCAPE.search(text):
            raise ValueError('"~" is followed by neither 0 nor 1')
        # ~1 first, so that ~01 becomes ~1 and not /.
        tokens = [token.replace("~1", "/").replace("~0", "~") for token in tokens]
    return tokens


def format_pointer(tokens: Iterable[str | int]) -> str:
    """The RFC 6901 pointer of reference tokens (str keys or int indexes)."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def equal(a: Any, b: Any) -> bool:
    """JSON equality as RFC 6902 `test` has it: numbers by value, true and
    false only equal to themselves, objects regardless of member order."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return False  # `a is b` has already matched equal booleans
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if isinstance(a, _NUMBERS):
        return isinstance(b, _NUMBERS) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, _MISSING)
            if other is _MISSING or not equal(value, other):
                return False
        return True
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(equal(x, y) for x, y in zip(a, b))
        )
    return False  # a is None (b is not) or not a JSON value


# Checking the patch as a whole


def _operations(patch: Any, max_operations: int) -> list[_Operation]:
    if not isinstance(patch, list):
        raise PatchError("malformed_patch", "a patch must be an array of operations")
    if not patch:
        raise PatchError("malformed_patch", "a patch must have at least one operation")
    if len(patch) > max_operations:
        raise PatchError(
            "too_many_operations",
            f"the patch has {len(patch)} operations, more than the limit of {max_operations}",
        )
    return [_operation(index, raw) for index, raw in enumerate(patch)]


def _operation(index: int, raw: Any) -> _Operation:
    if not isinstance(raw, dict):
        raise PatchError("malformed_patch", f"operation {index}: not an object", index=index)
    name = raw.get("op", _MISSING)
    if name is _MISSING:
        raise PatchError("malformed_patch", f'operation {index}: "op" is missing', index=index)
    if not isinstance(name, str) or name not in OPERATIONS:
        raise PatchError(
            "malformed_patch",
            f'operation {index}: "op" is not one of {", ".join(OPERATIONS)}',
            index=index,
        )
    where = f"operation {index} ({name})"
    path, tokens = _pointer_member(raw, "path", where, index)
    source = source_tokens = None
    if name in ("move", "copy"):
        source, source_tokens = _pointer_member(raw, "from", where, index)
    value = raw.get("value", _MISSING)
    if value is _MISSING and name in ("add", "replace", "test"):
        raise PatchError(
            "malformed_patch",
            f'{where}: "value" is missing for path {_quote(path)}',
            index=index,
            pointer=path,
        )
    if name == "remove" and not tokens:
        raise PatchError(
            "malformed_patch",
            f'{where}: path "" would remove the whole document',
            index=index,
            pointer=path,
        )
    if name == "move" and len(source_tokens) < len(tokens) and _is_prefix(source_tokens, tokens):
        raise PatchError(
            "malformed_patch",
            f"{where}: path {_quote(path)} is inside from {_quote(source)}",
            index=index,
            pointer=path,
        )
    return _Operation(index, name, path, tokens, source, source_tokens, value)


def _pointer_member(raw: dict, member: str, where: str, index: int) -> tuple[str, list[str]]:
    text = raw.get(member, _MISSING)
    if text is _MISSING:
        raise PatchError("malformed_patch", f'{where}: "{member}" is missing', index=index)
    if not isinstance(text, str):
        raise PatchError("malformed_patch", f'{where}: "{member}" is not a string', index=index)
    try:
        return text, _tokens(text)
    except ValueError as error:
        raise PatchError(
            "malformed_patch",
            f"{where}: {member} {_quote(text)} is not a json pointer: {error}",
            index=index,
            pointer=text,
        ) from None


# The operations: each appends the inverse of its steps to `undo`, in order


def _add(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    doc, step = _insert(doc, op, op.tokens, op.path, _copy(op.value))
    undo.append(step)
    return doc


def _remove(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    parent, key, old = _target(doc, op, op.tokens, op.path, "path")
    del parent[key]
    undo.append({"op": "add", "path": op.path, "value": old})
    return doc


def _replace(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    value = _copy(op.value)
    if not op.tokens:
        undo.append({"op": "replace", "path": "", "value": doc})
        return value
    parent, key, old = _target(doc, op, op.tokens, op.path, "path")
    parent[key] = value
    undo.append({"op": "replace", "path": op.path, "value": old})
    return doc


def _move(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    if op.source_tokens == op.tokens:
        _value(doc, op, op.source_tokens, op.source, "from")  # a no-op, but from must exist
        return doc
    parent, key, value = _target(doc, op, op.source_tokens, op.source, "from")
    del parent[key]
    doc, step = _insert(doc, op, op.tokens, op.path, value)
    if step["op"] == "remove" and not op.source.startswith(step["path"] + "/"):
        # Nothing was displaced, so moving the value back undoes both steps
        # and keeps a possibly large value out of the inverse.
        undo.append({"op": "move", "from": step["path"], "path": op.source})
    else:
        # Something was displaced, or the value moved into the array element
        # that held it, where moving it back would be a move into its own
        # child. So the inverse adds the value back, and as later operations
        # may change it in the document, it adds a copy of it as it is now.
        undo.append({"op": "add", "path": op.source, "value": _copy(value)})
        undo.append(step)
    return doc


def _copy_operation(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    value = _copy(_value(doc, op, op.source_tokens, op.source, "from"))
    doc, step = _insert(doc, op, op.tokens, op.path, value)
    undo.append(step)
    return doc


def _test(doc: Any, op: _Operation, undo: list[dict]) -> Any:
    if not equal(_value(doc, op, op.tokens, op.path, "path"), op.value):
        raise PatchError(
            "test_failed",
            f"operation {op.index} (test): the value at path {_quote(op.path)}"
            " differs from the tested value",
            index=op.index,
            pointer=op.path,
        )
    return doc


_APPLY = {
    "add": _add,
    "remove": _remove,
    "replace": _replace,
    "move": _move,
    "copy": _copy_operation,
    "test": _test,
}


# Primitive steps


def _insert(doc: Any, op: _Operation, tokens: list[str], path: str, value: Any) -> tuple[Any, dict]:
    """Add `value` at `path`; return the document and the step that undoes it."""
    if not tokens:
        return value, {"op": "replace", "path": "", "value": doc}
    parent = _parent(doc, op, tokens, path, "path", adding=True)
    key = tokens[-1]
    if isinstance(parent, dict):
        old = parent.get(key, _MISSING)
        parent[key] = value
        if old is _MISSING:
            return doc, {"op": "remove", "path": path}
        return doc, {"op": "replace", "path": path, "value": old}
    if isinstance(parent, list):
        if key == "-":
            position = len(parent)
            path = path[: path.rfind("/") + 1] + str(position)
        else:
            position = _array_index(key)
            if position is None:
                raise _error(
                    "path_not_found",
                    op,
                    f"path {_quote(path)} does not exist: {_quote(key)} is not an array index",
                    path,
                )
            if position > len(parent):
                raise _error(
                    "path_not_found", op, f"path {_quote(path)} is beyond the end of the array", path
                )
        parent.insert(position, value)
        return doc, {"op": "remove", "path": path}
    raise _error(
        "path_not_found", op, f"the parent of path {_quote(path)} is not an object or array", path
    )


def _value(doc: Any, op: _Operation, tokens: list[str], pointer: str, member: str) -> Any:
    if not tokens:
        return doc
    return _target(doc, op, tokens, pointer, member)[2]


def _target(
    doc: Any, op: _Operation, tokens: list[str], pointer: str, member: str
) -> tuple[dict | list, str | int, Any]:
    """The container of an existing location, its key or index, and its value."""
    parent = _parent(doc, op, tokens, pointer, member, adding=False)
    key = tokens[-1]
    if isinstance(parent, dict):
        value = parent.get(key, _MISSING)
        if value is not _MISSING:
            return parent, key, value
    elif isinstance(parent, list):
        position = _array_index(key)
        if position is not None and position < len(parent):
            return parent, position, parent[position]
    raise _not_found(op, member, pointer)


def _parent(
    doc: Any, op: _Operation, tokens: list[str], pointer: str, member: str, *, adding: bool
) -> Any:
    node = doc
    for i in range(len(tokens) - 1):
        token = tokens[i]
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
            if node is not _MISSING:
                continue
        elif isinstance(node, list):
            position = _array_index(token)
            if position is not None and position < len(node):
                node = node[position]
                continue
        if adding:
            raise _error(
                "path_not_found", op, f"the parent of path {_quote(pointer)} does not exist", pointer
            )
        raise _not_found(op, member, pointer)
    return node


def _array_index(token: str) -> int | None:
    # RFC 6901: 0, or digits without a leading zero; no sign, no spaces.
    # Twenty digits exceed any list, and int() refuses very long strings.
    if token.isdigit() and token.isascii() and len(token) < 20 and (token[0] != "0" or token == "0"):
        return int(token)
    return None


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value; strings, numbers and literals are immutable."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _is_prefix(head: list[str], tokens: list[str]) -> bool:
    return tokens[: len(head)] == head


def _quote(text: str) -> str:
    return encode_basestring(text)


def _not_found(op: _Operation, member: str, pointer: str) -> PatchError:
    kind = "test_failed" if op.name == "test" else "path_not_found"
    return _error(kind, op, f"{member} {_quote(pointer)} does not exist", pointer)


def _error(kind: str, op: _Operation, detail: str, pointer: str) -> PatchError:
    return PatchError(
        kind, f"operation {op.index} ({op.name}): {detail}", index=op.index, pointer=pointer
    )
$odl_source$);
-- plpython/odl_db/validation.py as released in @v0.1.0
call odl.python_install('odl_db.validation', $odl_source$"""JSON Schema (draft 2020-12) validation of ODL-SD documents, and the
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
$odl_source$);
-- plpython/odl_db/documents.py as released in @v0.1.0
call odl.python_install('odl_db.documents', $odl_source$"""Writing a document: apply a patch, check the result, hash it.

Failures come back as data, an (sqlstate, message, detail) triple, rather
than as exceptions: PL/Python prefixes every error it raises with the
exception's class name, so the SQL API raises them itself, cleanly. Every
failing JSON pointer is named in the detail, one per line.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, NamedTuple

from odl_db import canonical, jsonpatch, validation

PATCH_SQLSTATES = {
    "malformed_patch": "ODP01",
    "too_many_operations": "ODP02",
    "path_not_found": "ODP03",
    "test_failed": "ODP04",
}
SCHEMA_INVALID = "ODS01"
INTEGRITY_VIOLATION = "ODS02"
RESULTS_KEPT = 256  # validation results cached per backend

# The schema of a schema_version, or None when it is not registered.
SchemaLookup = Callable[[str], Any]


class Outcome(NamedTuple):
    document: Any = None
    inverse: list | None = None
    doc_hash: str | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None
    # The document as JSON text that casts back to the same jsonb, when it
    # could be written that way (then `document` is None): far cheaper to
    # return than the document itself.
    text: str | None = None


def apply(doc: Any, patch: Any, max_operations: int | None = 100) -> Outcome:
    """The patched document and its inverse, without checks."""
    try:
        document, inverse = jsonpatch.apply(
            doc, patch, max_operations=max_operations if max_operations is not None else float("inf")
        )
    except jsonpatch.PatchError as error:
        return Outcome(
            sqlstate=PATCH_SQLSTATES[error.kind],
            message=str(error),
            detail=None if error.pointer is None else f"pointer {error.pointer}",
        )
    return Outcome(document=document, inverse=inverse)


def change(
    doc: Any,
    patch: Any,
    schema_of: SchemaLookup,
    cache: dict,
    max_operations: int | None = 100,
    *,
    jsonb_numbers: bool = False,
) -> Outcome:
    """Apply `patch` to `doc`, then check and hash the result.

    `jsonb_numbers` says that every number is a Decimal, as the jsonb
    transform delivers them; it allows the fast hash and the text result.

    `doc` is a stored version, so it was valid against the schema of its
    schema_version when it was written: unless the patch changes that
    version, the schema is checked only where the patch wrote (see
    check's `touched`). Changing a registered schema in place therefore
    leaves existing documents as they were judged.
    """
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    touched = touched_pointers(doc, patch, max_operations) if isinstance(version, str) else None
    outcome = apply(doc, patch, max_operations)
    if outcome.sqlstate:
        return outcome
    document = outcome.document
    if not isinstance(document, dict) or document.get("schema_version") != version:
        touched = None
    checked = check(document, schema_of, cache, touched=touched, jsonb_numbers=jsonb_numbers)
    text = canonical.jsonb_text(document) if jsonb_numbers and not checked.sqlstate else None
    return checked._replace(document=None if text else document, inverse=outcome.inverse, text=text)


def check(
    doc: Any,
    schema_of: SchemaLookup,
    cache: dict,
    *,
    touched: list[str] | None = None,
    jsonb_numbers: bool = False,
) -> Outcome:
    """The document's hash if it is valid; otherwise every failing pointer.

    With `touched`, `doc` is a patched version of a document that was
    valid against the same schema, and the schema is checked only at those
    pointers and on the way to them (validation.schema_errors_after_patch);
    the integrity rules are checked in full either way.

    Results are cached by (schema hash, document hash), so a document checked
    once, by a dry run for example, is not validated again.
    """
    doc_hash = canonical.hash_text(
        canonical.decimal_canonical_json(doc) if jsonb_numbers else canonical.canonical_json(doc)
    )
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    schema = schema_of(version) if isinstance(version, str) else None
    if schema is None:
        errors = validation.integrity_errors(doc, supported_versions=())
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", errors)

    results = cache.setdefault("results", OrderedDict())
    key = (validation.schema_key(schema), doc_hash)
    if key not in results:
        results[key] = (
            validation.schema_errors(doc, schema, cache)
            if touched is None
            else validation.schema_errors_after_patch(doc, schema, touched, cache),
            validation.integrity_errors(doc, supported_versions=(version,)),
        )
        while len(results) > RESULTS_KEPT:
            results.popitem(last=False)
    results.move_to_end(key)
    schema_problems, integrity_problems = results[key]
    if schema_problems:
        return _failure(SCHEMA_INVALID, f"document does not match the schema of version {version}", schema_problems)
    if integrity_problems:
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", integrity_problems)
    return Outcome(doc_hash=doc_hash)


def touched_pointers(doc: Any, patch: Any, max_operations: int | None = 100) -> list[str] | None:
    """Where `patch` writes: the JSON pointer, in the patched document, of
    every value it adds, replaces or removes (for a removed one, where it
    was), none under another; [""] when it replaces the whole document.
    None when the patch would not apply. `doc` is left as it is.

    A later operation moves the pointers of earlier ones, as an insertion
    or removal shifts the elements after it, so the patch is traced on a
    copy of the containers along its paths, the document shared beneath.
    """
    limit = max_operations if max_operations is not None else float("inf")
    if not isinstance(patch, list) or not patch or len(patch) > limit:
        return None
    trace = _Trace(doc)
    try:
        for operation in patch:
            trace.operation(operation)
    except (_Untraceable, jsonpatch.PatchError):
        return None
    return trace.pointers()


def replay(doc: Any, patches: list) -> Any:
    """`doc` after each patch in turn (stored patches, known to apply)."""
    for patch in patches:
        doc, _ = jsonpatch.apply(doc, patch, max_operations=float("inf"))
    return doc


def _failure(sqlstate: str, message: str, errors: list[tuple[str, str]]) -> Outcome:
    detail = "\n".join(f"{pointer or '(root)'}: {text}" for pointer, text in errors)
    count = len(errors)
    return Outcome(
        sqlstate=sqlstate,
        message=f"{message} ({count} error{'s' if count != 1 else ''})",
        detail=detail,
    )


class _Untraceable(Exception):
    """The patch would not apply."""


class _Trace:
    """A patch applied to path copies of the containers it changes, as
    odl_db.jsonpatch applies it, noting where it writes.

    `marks` are token lists (array indexes as int) in the document as it
    is now; each operation moves or drops the marks its change displaces.
    """

    def __init__(self, doc: Any) -> None:
        self.root = doc
        self.copies: list = []  # keeps each copy, and so its id, alive
        self.owned: set[int] = set()
        self.marks: list[list] = []

    def operation(self, raw: Any) -> None:
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
            raise _Untraceable
        name = raw.get("op")
        tokens = jsonpatch.parse_pointer(raw["path"])
        if name in ("add", "replace"):
            if "value" not in raw:
                raise _Untraceable
            (self.add if name == "add" else self.replace)(tokens, raw["value"])
        elif name == "remove":
            self.remove(tokens)
        elif name in ("move", "copy"):
            if not isinstance(raw.get("from"), str):
                raise _Untraceable
            source = jsonpatch.parse_pointer(raw["from"])
            value = self.get(source)
            if name == "move":
                if source == tokens:
                    return
                self.remove(source)
            else:
                # The value now sits in two places, and may hold copies made
                # here: none may be changed in place any more.
                self.owned.clear()
            self.add(tokens, value)
        elif name != "test":  # a test changes nothing (or fails the patch)
            raise _Untraceable

    def get(self, tokens: list[str]) -> Any:
        node = self.root
        for token in tokens:
            node, _ = self._child(node, token)
        return node

    def add(self, tokens: list[str], value: Any) -> None:
        if not tokens:
            self._whole(value)
            return
        parent, where = self._parent(tokens)
        token = tokens[-1]
        if isinstance(parent, dict):
            parent[token] = value
            self._write([*where, token])
        elif isinstance(parent, list):
            index = len(parent) if token == "-" else jsonpatch._array_index(token)
            if index is None or index > len(parent):
                raise _Untraceable
            parent.insert(index, value)
            self._shift(where, index, 1)
            self._write([*where, index])
        else:
            raise _Untraceable

    def replace(self, tokens: list[str], value: Any) -> None:
        if not tokens:
            self._whole(value)
            return
        parent, where = self._parent(tokens)
        _, key = self._child(parent, tokens[-1])
        parent[key] = value
        self._write([*where, key])

    def remove(self, tokens: list[str]) -> None:
        if not tokens:
            raise _Untraceable
        parent, where = self._parent(tokens)
        _, key = self._child(parent, tokens[-1])
        del parent[key]
        self._drop([*where, key])
        if isinstance(key, int):
            self._shift(where, key + 1, -1)
        self.marks.append([*where, key])

    def pointers(self) -> list[str]:
        """The marks as pointers in document order, none under another."""
        kept: list[list] = []
        for mark in sorted(self.marks, key=len):
            if not any(mark[: len(other)] == other for other in kept):
                kept.append(mark)
        kept.sort(key=lambda mark: [(0, t, "") if isinstance(t, int) else (1, 0, t) for t in mark])
        return [jsonpatch.format_pointer(mark) for mark in kept]

    def _whole(self, value: Any) -> None:
        self.root = value
        self.marks = [[]]

    def _child(self, node: Any, token: str) -> tuple[Any, str | int]:
        if isinstance(node, dict):
            if token in node:
                return node[token], token
        elif isinstance(node, list):
            index = jsonpatch._array_index(token)
            if index is not None and index < len(node):
                return node[index], index
        raise _Untraceable

    def _own(self, container: Any) -> Any:
        if id(container) in self.owned:
            return container
        if isinstance(container, dict):
            copy: Any = dict(container)
        elif isinstance(container, list):
            copy = list(container)
        else:
            raise _Untraceable
        self.copies.append(copy)
        self.owned.add(id(copy))
        return copy

    def _parent(self, tokens: list[str]) -> tuple[Any, list]:
        """The container of the last token, copied along the way, and its marks path."""
        node = self.root = self._own(self.root)
        where: list = []
        for token in tokens[:-1]:
            child, key = self._child(node, token)
            child = node[key] = self._own(child)
            node = child
            where.append(key)
        return node, where

    def _write(self, mark: list) -> None:
        self._drop(mark)
        self.marks.append(mark)

    def _drop(self, mark: list) -> None:
        self.marks = [m for m in self.marks if m[: len(mark)] != mark]

    def _shift(self, where: list, start: int, step: int) -> None:
        depth = len(where)
        for mark in self.marks:
            if len(mark) > depth and mark[:depth] == where and isinstance(mark[depth], int) and mark[depth] >= start:
                mark[depth] += step
$odl_source$);

-- sql/040_documents_api/engine.sql as released in @v0.1.0
-- The PL/Python engine behind the document API. These functions are
-- internal: they return failures as (sqlstate, message, detail) for
-- odl.raise_failure(), because errors raised inside PL/Python carry the
-- exception class in their message.

insert into odl.error_codes (sqlstate, name, meaning) values
('ODP01', 'malformed_patch', 'The patch is not a valid RFC 6902 patch (or a pointer is not valid RFC 6901)'),
('ODP02', 'too_many_operations', 'The patch has more than 100 operations'),
('ODP03', 'path_not_found', 'An operation''s path or from names a location that does not exist'),
('ODP04', 'test_failed', 'A test operation found a different value'),
('ODV01', 'version_conflict', 'expected_version is not the document''s current version'),
('ODS01', 'schema_invalid', 'The document does not match the JSON Schema of its schema_version'),
(
    'ODS02',
    'integrity_violation',
    'The document breaks a rule beyond the schema, or its schema_version is not registered'
),
('ODD01', 'unknown_document', 'No document with that id is visible in the current tenant'),
('ODD02', 'unknown_project', 'No project with that id is visible in the current tenant'),
('ODD03', 'unknown_version', 'The document has no such version')
on conflict (sqlstate) do update set name = excluded.name, meaning = excluded.meaning;

create or replace function odl.raise_failure(sqlstate text, message text, detail text)
returns void
language plpgsql
immutable
parallel safe
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    if sqlstate is null then
        return;
    end if;
    raise exception using errcode = sqlstate, message = message, detail = coalesce(detail, '');
end
$$;

revoke all on function odl.raise_failure(text, text, text) from public;
comment on function odl.raise_failure(text, text, text) is
'Raises a failure reported by the engine; does nothing when sqlstate is null';

-- The document comes in as text: json.loads with Decimal numbers builds
-- the same objects as the jsonb transform, a third faster.
create or replace function odl.document_write(
    doc_text text,
    patch jsonb,
    max_operations integer,
    out document jsonb,
    out inverse_patch jsonb,
    out doc_hash text,
    out sqlstate text,
    out message text,
    out detail text,
    out document_text text
)
language plpython3u
stable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
import json
from decimal import Decimal

if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
    SD["hash_of"] = plpy.prepare("select content_hash from odl.json_schemas where version = $1", ["text"])
    SD["schema_of"] = plpy.prepare("select schema from odl.json_schemas where version = $1", ["text"])


def schema_of(version):
    rows = plpy.execute(SD["hash_of"], [version])
    if not rows:
        return None
    schemas = GD.setdefault("odl_schemas", {})
    key = rows[0]["content_hash"]
    if key not in schemas:
        schemas[key] = plpy.execute(SD["schema_of"], [version])[0]["schema"]
    return schemas[key]


cache = GD.setdefault("odl_validation", {})
doc = json.loads(doc_text, parse_float=Decimal, parse_int=Decimal)
if patch is None:
    return SD["documents"].check(doc, schema_of, cache, jsonb_numbers=True)
return SD["documents"].change(doc, patch, schema_of, cache, max_operations, jsonb_numbers=True)
$$;

revoke all on function odl.document_write(text, jsonb, integer) from public;
comment on function odl.document_write(text, jsonb, integer) is
'Applies a patch (or none) and validates and hashes the result; failures come back as data. '
'The result comes back as document_text when JSON text can carry it exactly, else as document';

create or replace function odl.document_patch(
    doc jsonb,
    patch jsonb,
    max_operations integer,
    out document jsonb,
    out inverse_patch jsonb,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
outcome = SD["documents"].apply(doc, patch, max_operations)
return outcome.document, outcome.inverse, outcome.sqlstate, outcome.message, outcome.detail
$$;

revoke all on function odl.document_patch(jsonb, jsonb, integer) from public;
comment on function odl.document_patch(jsonb, jsonb, integer) is
'Applies a patch without checks; failures come back as data';

create or replace function odl.document_replay(doc jsonb, patches jsonb)
returns jsonb
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "documents" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import documents
    SD["documents"] = documents
return SD["documents"].replay(doc, patches)
$$;

revoke all on function odl.document_replay(jsonb, jsonb) from public;
comment on function odl.document_replay(jsonb, jsonb) is
'A document after each stored patch of a JSON array of patches, in order';
-- sql/040_documents_api/json_schemas.sql as released in @v0.1.0
-- JSON Schema (draft 2020-12) validation: the schema registry's writer, and
-- pg_jsonschema's SQL API with its names and signatures. pg_jsonschema is
-- installed in public by default, so these live there too and SQL written
-- for it runs unchanged.

create or replace function odl.json_schema_problems(schema jsonb)
returns text[]
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
transform for type jsonb
as $$
if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
return SD["validation"].check_schema(schema)
$$;

revoke all on function odl.json_schema_problems(jsonb) from public;
comment on function odl.json_schema_problems(jsonb) is
'Why a schema is not a valid draft 2020-12 schema, one "pointer: message" each; empty when it is';

create or replace procedure odl.register_json_schema(version text, schema jsonb)
language plpgsql
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    problems text [] := odl.json_schema_problems(register_json_schema.schema);
begin
    if cardinality(problems) > 0 then
        raise exception using
            errcode = '22023',
            message = format('schema for version %s is not a valid JSON Schema', register_json_schema.version),
            detail = array_to_string(problems, E'\n');
    end if;
    -- Stored documents were judged by the schema of their version, and
    -- patches re-check only what they touch: a version in use is frozen.
    if exists (
        select from odl.json_schemas as s
        where s.version = register_json_schema.version
            and s.content_hash <> odl.odl_content_hash(register_json_schema.schema)
    ) and exists (select from odl.odl_documents as d where d.schema_version = register_json_schema.version) then
        raise exception using
            errcode = '22023',
            message = format('schema version %s is in use by documents and cannot change', register_json_schema.version),
            hint = 'Register the changed schema as a new version.';
    end if;
    insert into odl.json_schemas as s (schema_id, version, schema, content_hash)
    values (
        register_json_schema.schema ->> '$id', register_json_schema.version,
        register_json_schema.schema, odl.odl_content_hash(register_json_schema.schema)
    )
    on conflict on constraint json_schemas_pkey do update
    set schema = excluded.schema, content_hash = excluded.content_hash, registered_at = now()
    where s.content_hash <> excluded.content_hash;
end
$$;

revoke all on procedure odl.register_json_schema(text, jsonb) from public; -- noqa: LT01
comment on procedure odl.register_json_schema(text, jsonb) is -- noqa: LT01
'Registers (or updates) the JSON Schema that documents of a schema_version are validated against';

create or replace function odl.json_schema_errors(
    schema json,
    instance json,
    out errors text[],
    out schema_problem text
)
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import json
from decimal import Decimal

if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
validation = SD["validation"]
try:
    found = validation.schema_errors(
        json.loads(instance, parse_float=Decimal),
        json.loads(schema, parse_float=Decimal),
        GD.setdefault("odl_validation", {}),
    )
except validation.InvalidSchemaError as error:
    return None, str(error)
return [f"{pointer or '(root)'}: {message}" for pointer, message in found], None
$$;

revoke all on function odl.json_schema_errors(json, json) from public;
comment on function odl.json_schema_errors(json, json) is
'Validation errors of an instance, or why the schema itself is unusable; for the pg_jsonschema API';

create or replace function public.jsonschema_validation_errors(schema json, instance json)
returns text[]
language plpgsql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    checked record := odl.json_schema_errors(schema, instance);
begin
    if checked.schema_problem is not null then
        raise exception using
            errcode = '22023',
            message = 'invalid JSON Schema',
            detail = checked.schema_problem;
    end if;
    return checked.errors;
end
$$;

alter function public.jsonschema_validation_errors(json, json) owner to odl_owner;
revoke all on function public.jsonschema_validation_errors(json, json) from public;
grant execute on function public.jsonschema_validation_errors(json, json) to public;
comment on function public.jsonschema_validation_errors(json, json) is
'pg_jsonschema API: every way the instance breaks the draft 2020-12 schema, as "pointer: message"';

create or replace function public.json_matches_schema(schema json, instance json)
returns boolean
language sql
immutable
strict
parallel restricted
security invoker
set search_path = pg_catalog, public, pg_temp
as $$
    select cardinality(public.jsonschema_validation_errors(schema, instance)) = 0
$$;

alter function public.json_matches_schema(json, json) owner to odl_owner;
grant execute on function public.json_matches_schema(json, json) to public;
comment on function public.json_matches_schema(json, json) is
'pg_jsonschema API: whether the instance is valid against the draft 2020-12 schema';

create or replace function public.jsonb_matches_schema(schema json, instance jsonb)
returns boolean
language sql
immutable
strict
parallel restricted
security invoker
set search_path = pg_catalog, public, pg_temp
as $$
    select cardinality(public.jsonschema_validation_errors(schema, instance::json)) = 0
$$;

alter function public.jsonb_matches_schema(json, jsonb) owner to odl_owner;
grant execute on function public.jsonb_matches_schema(json, jsonb) to public;
comment on function public.jsonb_matches_schema(json, jsonb) is
'pg_jsonschema API: whether the jsonb instance is valid against the draft 2020-12 schema';

create or replace function public.jsonschema_is_valid(schema json)
returns boolean
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import json
from decimal import Decimal

if "validation" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import validation
    SD["validation"] = validation
return not SD["validation"].check_schema(json.loads(schema, parse_float=Decimal))
$$;

alter function public.jsonschema_is_valid(json) owner to odl_owner;
revoke all on function public.jsonschema_is_valid(json) from public;
grant execute on function public.jsonschema_is_valid(json) to public;
comment on function public.jsonschema_is_valid(json) is
'pg_jsonschema API: whether the schema is a valid draft 2020-12 JSON Schema';
-- sql/040_documents_api/odl_create_document.sql as released in @v0.1.0
create or replace function odl.odl_create_document(project_id text, doc jsonb)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    checked record;
    new_id text := odl.odl_ulid();
begin
    if not exists (select from odl.projects as p where p.project_id = odl_create_document.project_id) then
        raise exception using
            errcode = 'ODD02',
            message = 'project does not exist',
            detail = format('project_id %s', quote_nullable(odl_create_document.project_id));
    end if;

    -- W on meta and R on every section the document holds; approvals
    -- govern later changes.
    perform odl.authorize_write(
        odl_create_document.project_id,
        array(
            select '/' || replace(replace(k.key, '~', '~0'), '/', '~1')
            from jsonb_object_keys(case jsonb_typeof(doc) when 'object' then doc else '{}' end) as k (key)
        ),
        'create'
    );
    checked := odl.document_write(doc::text, null, null);
    perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);

    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
    )
    values (
        context.tenant_id, new_id, odl_create_document.project_id, doc ->> 'schema_version',
        doc, checked.doc_hash, 1, context.user_id, context.user_id
    );
    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, doc_json, created_by)
    values (context.tenant_id, new_id, 1, checked.doc_hash, doc, context.user_id);
    perform odl.audit_append(
        'document.created',
        jsonb_build_object('version', 1, 'doc_hash', checked.doc_hash, 'schema_version', doc ->> 'schema_version'),
        odl_create_document.project_id, new_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_create_document(text, jsonb) from public;
grant execute on function odl.odl_create_document(text, jsonb) to odl_app;
comment on function odl.odl_create_document(text, jsonb) is
'Validates an ODL-SD document, stores it as version 1 of a new document of the project, and returns its ULID; '
'needs W on meta and R on every section the document holds';
-- sql/040_documents_api/odl_apply_patch.sql as released in @v0.1.0
-- Every write of a document goes through odl.write_patch(): it locks the
-- row, checks the expected version, applies, validates and hashes, then
-- updates the document and appends the version and the patch.

create or replace function odl.write_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    max_operations integer
)
returns table (version integer, doc_hash text, inverse_patch jsonb, document jsonb)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    -- Every 100th version keeps a full snapshot, so rebuilding any version
    -- replays at most 50 patches (from a snapshot, or back from the current).
    snapshot_interval constant integer := 100;
    context record := odl.require_context();
    current_doc record;
    outcome record;
    new_doc jsonb;
    new_version integer;
begin
    -- JSON null would reach the engine as "no patch"; refuse it here.
    if jsonb_typeof(patch) is distinct from 'array' then
        raise exception using
            errcode = 'ODP01',
            message = 'a patch must be an array of operations',
            detail = format('got %s', coalesce(jsonb_typeof(patch), 'SQL null'));
    end if;
    if expected_version is null then
        raise exception using
            errcode = '22004',
            message = 'expected_version is required',
            hint = 'Pass the version the patch was written against.';
    end if;

    if dry_run then
        select d.* into current_doc from odl.odl_documents as d where d.doc_id = write_patch.doc_id;
    else
        select d.* into current_doc from odl.odl_documents as d where d.doc_id = write_patch.doc_id for update;
    end if;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', write_patch.doc_id);
    end if;
    if current_doc.version <> expected_version then
        raise exception using
            errcode = 'ODV01',
            message = 'version conflict',
            detail = format('expected version %s, current version %s', expected_version, current_doc.version),
            hint = 'Read the current version, rebase the patch on it and retry.';
    end if;

    outcome := odl.document_write(current_doc.doc_json::text, patch, max_operations);
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    new_doc := coalesce(outcome.document_text::jsonb, outcome.document);
    new_version := current_doc.version + 1;

    if dry_run then
        return query select new_version, outcome.doc_hash, outcome.inverse_patch, new_doc;
        return;
    end if;

    update odl.odl_documents as d
    set doc_json = new_doc,
        doc_hash = outcome.doc_hash,
        schema_version = new_doc ->> 'schema_version',
        version = new_version,
        valid_from = now(),
        updated_by = context.user_id
    where d.tenant_id = current_doc.tenant_id and d.doc_id = current_doc.doc_id;

    insert into odl.odl_document_versions (tenant_id, doc_id, version, doc_hash, doc_json, created_by)
    values (
        current_doc.tenant_id, current_doc.doc_id, new_version, outcome.doc_hash,
        case when new_version % snapshot_interval = 0 then new_doc end,
        context.user_id
    );
    insert into odl.odl_patches (
        tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch,
        evidence_uris, intent, tool_version, created_by
    )
    values (
        current_doc.tenant_id, current_doc.doc_id, new_version, current_doc.version, patch,
        outcome.inverse_patch, to_jsonb(coalesce(evidence_uris, '{}')), intent, tool_version, context.user_id
    );
    -- The ledger names the patch by its hash; odl_patches keeps the patch.
    perform odl.audit_append(
        'patch.applied',
        jsonb_build_object(
            'from_version', current_doc.version, 'to_version', new_version, 'doc_hash', outcome.doc_hash,
            'patch_hash', odl.odl_content_hash(patch), 'operations', jsonb_array_length(patch), 'intent', intent
        ),
        current_doc.project_id, current_doc.doc_id
    );

    return query select new_version, outcome.doc_hash, outcome.inverse_patch, null::jsonb;
end
$$;

revoke all on function odl.write_patch(text, jsonb, integer, text, text[], text, boolean, integer) from public;
comment on function odl.write_patch(text, jsonb, integer, text, text[], text, boolean, integer) is
'The one writer of documents: lock, check the version, apply, validate, hash, then append history';

-- Every patch that a user submits passes odl.submit_patch(): the rights
-- and phase gates decide whether it is applied now or held as a change
-- request for an approver (odl_approve_change merges it later).
create or replace function odl.submit_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    propose boolean,
    max_operations integer
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    target record;
    reason text;
    written record;
    shown_document jsonb;
    shown_redacted text[];
begin
    perform odl.require_context();
    select d.project_id into target from odl.odl_documents as d where d.doc_id = submit_patch.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', submit_patch.doc_id);
    end if;
    reason := odl.authorize_write(
        target.project_id, odl.patch_pointers(patch), case when propose then 'propose' else 'write' end
    );
    if reason is not null then
        return query
        select * from odl.propose_patch(
            submit_patch.doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, reason,
            max_operations
        );
        return;
    end if;
    select * into written
    from odl.write_patch(submit_patch.doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, max_operations);
    -- Only a dry run returns a document, as its author may read it.
    if dry_run then
        select r.document, r.redacted into shown_document, shown_redacted
        from odl.redact(written.document, (odl.scope_of(target.project_id)).node_id) as r;
    end if;
    return query
    select written.version, written.doc_hash, written.inverse_patch, shown_document, 'applied'::text, null::text,
        shown_redacted;
end
$$;

revoke all on function odl.submit_patch(
    text, jsonb, integer, text, text[], text, boolean, boolean, integer
) from public;
comment on function odl.submit_patch(text, jsonb, integer, text, text[], text, boolean, boolean, integer) is
'Authorizes a patch by the context''s user, then applies it (outcome applied) or holds it as a change request '
'(outcome proposed)';

create or replace function odl.odl_apply_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text default null,
    evidence_uris text[] default '{}',
    tool_version text default null,
    dry_run boolean default false,
    propose boolean default false
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language sql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select * from odl.submit_patch(
        doc_id, patch, expected_version, intent, evidence_uris, tool_version, dry_run, propose, 100
    )
$$;

revoke all on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) from public;
grant execute on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) to odl_app;
comment on function odl.odl_apply_patch(text, jsonb, integer, text, text[], text, boolean, boolean) is
'Applies an RFC 6902 patch (1 to 100 operations) atomically to the current version and returns the new '
'version, its hash and the exact inverse (outcome applied); or, when the user may only propose, a section '
'needs approval, the user is an AI agent or propose is true, holds it as a change request (outcome proposed, '
'change_id). A dry run returns the would-be document, redacted as odl_get_document() does, and writes nothing';
-- sql/040_documents_api/odl_get_document.sql as released in @v0.1.0
create or replace function odl.document_at(doc_id text, version integer)
returns jsonb
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    current_doc record;
    snapshot record;
    wanted integer;
begin
    select d.version, d.doc_json into current_doc from odl.odl_documents as d where d.doc_id = document_at.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', document_at.doc_id);
    end if;
    wanted := coalesce(document_at.version, current_doc.version);
    if wanted = current_doc.version then
        return current_doc.doc_json;
    end if;
    if wanted < 1 or wanted > current_doc.version then
        raise exception using
            errcode = 'ODD03',
            message = 'document version does not exist',
            detail = format('doc_id %s has versions 1 to %s, not %s', document_at.doc_id, current_doc.version, wanted);
    end if;

    select v.version, v.doc_json into snapshot
    from odl.odl_document_versions as v
    where v.doc_id = document_at.doc_id and v.version <= wanted and v.doc_json is not null
    order by v.version desc
    limit 1;

    -- Replay the shorter way: forward from the snapshot, or back from the
    -- current version through the inverse patches.
    if current_doc.version - wanted < wanted - snapshot.version then
        return odl.document_replay(
            current_doc.doc_json,
            (
                select coalesce(jsonb_agg(p.inverse_patch order by p.to_version desc), '[]')
                from odl.odl_patches as p
                -- A patch of tests only has nothing to undo.
                where p.doc_id = document_at.doc_id and p.to_version > wanted
                    and jsonb_array_length(p.inverse_patch) > 0
            )
        );
    end if;
    if snapshot.version = wanted then
        return snapshot.doc_json;
    end if;
    return odl.document_replay(
        snapshot.doc_json,
        (
            select coalesce(jsonb_agg(p.patch_json order by p.to_version), '[]')
            from odl.odl_patches as p
            where p.doc_id = document_at.doc_id and p.to_version > snapshot.version and p.to_version <= wanted
        )
    );
end
$$;

revoke all on function odl.document_at(text, integer) from public;
comment on function odl.document_at(text, integer) is
'The current document (version null), or any past version exactly as it was, rebuilt from a snapshot and the '
'patches; unredacted, for the API functions';

create or replace function odl.odl_get_document(doc_id text, version integer default null)
returns table (document jsonb, redacted text[])
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    scope record;
begin
    select s.node_id, s.project_id into scope
    from odl.odl_documents as d
    cross join lateral odl.scope_of(d.project_id) as s
    where d.doc_id = odl_get_document.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', odl_get_document.doc_id);
    end if;
    if not odl.readable_project(scope.project_id) then
        raise exception using
            errcode = 'ODR01',
            message = 'permission denied: reading a document needs R on some section of its project',
            detail = format('user_id %s, doc_id %s', context.user_id, odl_get_document.doc_id);
    end if;
    return query
    select r.document, r.redacted
    from odl.redact(odl.document_at(odl_get_document.doc_id, odl_get_document.version), scope.node_id) as r;
end
$$;

revoke all on function odl.odl_get_document(text, integer) from public;
grant execute on function odl.odl_get_document(text, integer) to odl_app;
comment on function odl.odl_get_document(text, integer) is
'The current document, or any past version exactly as it was, with only what the caller may read: '
'redacted lists the JSON pointers removed (sections without R, parts classified above the caller''s clearance)';
-- sql/040_documents_api/odl_document_heads.sql as released in @v0.1.0
-- What an application needs to write: the current version and hash of its
-- documents (odl_app cannot read the storage tables). Both functions list
-- only documents of projects where the caller may read something
-- (odl.readable_project).

create or replace function odl.odl_document_heads(project_id text default null)
returns table (
    doc_id text,
    project_id text,
    version integer,
    doc_hash text,
    schema_version text,
    valid_from timestamptz,
    updated_by text
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select d.doc_id, d.project_id, d.version, d.doc_hash, d.schema_version, d.valid_from, d.updated_by
    from odl.odl_documents as d
    where (odl_document_heads.project_id is null or d.project_id = odl_document_heads.project_id)
        and odl.readable_project(d.project_id)
    order by d.doc_id
$$;

revoke all on function odl.odl_document_heads(text) from public;
grant execute on function odl.odl_document_heads(text) to odl_app, odl_analyst;
comment on function odl.odl_document_heads(text) is
'The current version and hash of each document of the tenant (of one project when given) that the caller may '
'read';

create or replace function odl.odl_document_history(doc_id text)
returns table (
    version integer,
    doc_hash text,
    created_at timestamptz,
    created_by text,
    intent text,
    tool_version text,
    evidence_uris jsonb,
    operations integer
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select
        v.version,
        v.doc_hash,
        v.created_at,
        v.created_by,
        p.intent,
        p.tool_version,
        p.evidence_uris,
        jsonb_array_length(p.patch_json)
    from odl.odl_document_versions as v
    left join odl.odl_patches as p
        on v.tenant_id = p.tenant_id and v.doc_id = p.doc_id and v.version = p.to_version
    where v.doc_id = odl_document_history.doc_id
        and odl.readable_project((select d.project_id from odl.odl_documents as d where d.doc_id = v.doc_id))
    order by v.version
$$;

revoke all on function odl.odl_document_history(text) from public;
grant execute on function odl.odl_document_history(text) to odl_app, odl_analyst;
comment on function odl.odl_document_history(text) is
'Every version of a document: its hash, author and time, and the intent and size of the patch that made it';
-- sql/040_documents_api/odl_revert_document.sql as released in @v0.1.0
create or replace function odl.odl_revert_document(doc_id text, to_version integer, expected_version integer)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    revert_patch jsonb;
begin
    perform odl.require_context();
    -- Checks that the document and the version exist.
    perform odl.document_at(odl_revert_document.doc_id, odl_revert_document.to_version);

    -- The inverses of the later patches, newest first, lead back exactly.
    select coalesce(jsonb_agg(op order by p.to_version desc, ordinality), '[]')
    into revert_patch
    from odl.odl_patches as p
    cross join lateral jsonb_array_elements(p.inverse_patch) with ordinality as e (op, ordinality)
    where p.doc_id = odl_revert_document.doc_id and p.to_version > odl_revert_document.to_version;
    if jsonb_array_length(revert_patch) = 0 then
        -- Nothing changed since (or only tests ran): record the revert anyway,
        -- as a test of the schema version (which needs rights on meta only).
        revert_patch := jsonb_build_array(jsonb_build_object('op', 'test', 'path', '/schema_version', 'value',
            odl.document_at(odl_revert_document.doc_id, null) -> 'schema_version'));
    end if;

    return query
    select * from odl.submit_patch(
        odl_revert_document.doc_id, revert_patch, odl_revert_document.expected_version,
        format('revert to version %s', odl_revert_document.to_version), '{}', null, false, false, null
    );
end
$$;

revoke all on function odl.odl_revert_document(text, integer, integer) from public;
grant execute on function odl.odl_revert_document(text, integer, integer) to odl_app;
comment on function odl.odl_revert_document(text, integer, integer) is
'Makes a new version equal to an earlier one, recorded as a patch like any other and authorized like one '
'(so it may become a change request)';
-- sql/040_documents_api/change_requests.sql as released in @v0.1.0
-- Change requests: patches held for an approver, and moves to the next
-- phase. An approver (a human holding an approver role, with A on every
-- section of the change, not its author) merges or rejects them; each
-- decision is recorded in odl.approvals and audited.

create or replace function odl.propose_patch(
    doc_id text,
    patch jsonb,
    expected_version integer,
    intent text,
    evidence_uris text[],
    tool_version text,
    dry_run boolean,
    reason text,
    max_operations integer
)
returns table (
    version integer,
    doc_hash text,
    inverse_patch jsonb,
    document jsonb,
    outcome text,
    change_id text,
    redacted text[]
)
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    current_doc record;
    checked record;
    shown record;
    new_id text := odl.odl_ulid();
begin
    select d.project_id, d.version, d.doc_hash, d.doc_json into current_doc
    from odl.odl_documents as d where d.doc_id = propose_patch.doc_id;
    if current_doc.version is distinct from expected_version then
        raise exception using
            errcode = 'ODV01',
            message = 'version conflict',
            detail = format('expected version %s, current version %s', expected_version, current_doc.version),
            hint = 'Read the current version, rebase the patch on it and retry.';
    end if;
    -- A proposal must apply and validate now; the merge checks again.
    checked := odl.document_write(current_doc.doc_json::text, patch, max_operations);
    perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);
    if dry_run then
        shown := odl.redact(
            coalesce(checked.document_text::jsonb, checked.document), (odl.scope_of(current_doc.project_id)).node_id
        );
        return query select current_doc.version, current_doc.doc_hash, null::jsonb, shown.document,
            'proposed'::text, null::text, shown.redacted;
        return;
    end if;

    insert into odl.change_requests (
        tenant_id, change_id, project_id, kind, doc_id, base_version, patch, sections, reason, intent,
        evidence_uris, tool_version, author_id
    )
    values (
        context.tenant_id, new_id, current_doc.project_id, 'patch', propose_patch.doc_id, current_doc.version, patch,
        odl.sections_of(odl.patch_pointers(patch)), reason, intent, to_jsonb(coalesce(evidence_uris, '{}')),
        tool_version, context.user_id
    );
    perform odl.audit_append(
        'patch.proposed',
        jsonb_build_object(
            'change_id', new_id, 'base_version', current_doc.version, 'reason', reason,
            'patch_hash', odl.odl_content_hash(patch), 'operations', jsonb_array_length(patch), 'intent', intent
        ),
        current_doc.project_id, propose_patch.doc_id
    );
    return query select current_doc.version, current_doc.doc_hash, null::jsonb, null::jsonb,
        'proposed'::text, new_id, null::text[];
end
$$;

revoke all on function odl.propose_patch(text, jsonb, integer, text, text[], text, boolean, text, integer) from public;
comment on function odl.propose_patch(text, jsonb, integer, text, text[], text, boolean, text, integer) is
'Holds a patch that applies and validates on the current version as a pending change request';

create or replace function odl.stale_pointers(doc_id text, base_version integer, patch jsonb)
returns text
language sql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
    -- What patches after base_version changed where the patch writes. An
    -- add or remove inside an array shifts its elements, so it counts as
    -- a change of the whole array.
    with changed as (
        select p.to_version, case
            when x.op ->> 'op' in ('add', 'remove', 'move') and x.pointer ~ '/([0-9]+|-)$'
                then regexp_replace(x.pointer, '/[^/]*$', '')
            else x.pointer
        end as pointer
        from odl.odl_patches as p
        cross join lateral jsonb_array_elements(p.patch_json) as o (op)
        cross join lateral (
            values (o.op, o.op ->> 'path'), (o.op, case when o.op ->> 'op' = 'move' then o.op ->> 'from' end)
        ) as x (op, pointer)
        where p.doc_id = stale_pointers.doc_id and p.to_version > stale_pointers.base_version
            and x.op ->> 'op' <> 'test' and x.pointer is not null
    ),
    written as (
        select distinct w.pointer
        from jsonb_array_elements(patch) as o (op)
        cross join lateral (values (o.op ->> 'path'), (o.op ->> 'from')) as w (pointer)
        where w.pointer is not null
    )
    select string_agg(distinct format('%s (version %s)', c.pointer, c.to_version), ', ')
    from changed as c
    inner join written as w
        on c.pointer = w.pointer or c.pointer = '' or w.pointer = ''
        or starts_with(w.pointer, c.pointer || '/') or starts_with(c.pointer, w.pointer || '/')
$$;

revoke all on function odl.stale_pointers(text, integer, jsonb) from public;
comment on function odl.stale_pointers(text, integer, jsonb) is
'The pointers that later versions changed where a patch reads or writes (null when none): a change request '
'written against base_version is stale if there are any';

create or replace function odl.odl_set_project_phase(project_id text, phase text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    scope record := odl.scope_of(odl_set_project_phase.project_id);
    new_id text := odl.odl_ulid();
begin
    if scope.project_id is null then
        raise exception using
            errcode = 'ODH02',
            message = 'project does not exist',
            detail = format('project_id %s', odl_set_project_phase.project_id);
    end if;
    if not exists (
        select from odl.project_phases as now_in
        inner join odl.project_phases as next on next.position = now_in.position + 1
        where now_in.phase = scope.phase and next.phase = odl_set_project_phase.phase
    ) then
        raise exception using
            errcode = 'ODG02',
            message = format('a project in %s cannot move to %s', scope.phase, quote_nullable(odl_set_project_phase.phase)),
            hint = 'Phases move one step forward: ' || (
                select string_agg(p.phase, ' > ' order by p.position) from odl.project_phases as p
            );
    end if;
    perform odl.require_right(odl_set_project_phase.project_id, a.section, a.rights, 'requesting a phase change')
    from odl.rbac_actions as a where a.action = 'request_phase_change';

    insert into odl.change_requests (
        tenant_id, change_id, project_id, kind, target_phase, sections, reason, author_id
    )
    select context.tenant_id, new_id, odl_set_project_phase.project_id, 'phase', odl_set_project_phase.phase,
        array[a.section], 'phase_change', context.user_id
    from odl.rbac_actions as a where a.action = 'approve_phase_change';
    perform odl.audit_append(
        'phase.proposed', jsonb_build_object('change_id', new_id, 'from', scope.phase, 'to', odl_set_project_phase.phase),
        odl_set_project_phase.project_id
    );
    return new_id;
end
$$;

revoke all on function odl.odl_set_project_phase(text, text) from public;
grant execute on function odl.odl_set_project_phase(text, text) to odl_app;
comment on function odl.odl_set_project_phase(text, text) is
'Requests the move of a project to the next phase, as a change request that an approver decides with '
'odl_approve_change(); returns its change_id. ODG02 unless the phase is the next one';

create or replace function odl.odl_approve_change(change_id text, outcome text, comment text default null)
returns table (status text, version integer, doc_hash text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
declare
    context record := odl.require_context();
    change record;
    scope record;
    approver_role text;
    stale text;
    gate text;
    new_version integer;
    new_hash text;
begin
    select c.* into change from odl.change_requests as c where c.change_id = odl_approve_change.change_id for update;
    if not found or change.status <> 'pending' then
        raise exception using
            errcode = 'ODR03',
            message = 'change request is not pending',
            detail = format('change_id %s, status %s', odl_approve_change.change_id, coalesce(change.status, 'none'));
    end if;
    if outcome is null or outcome not in ('approved', 'rejected') then
        raise exception using
            errcode = '22023',
            message = format('outcome must be approved or rejected, not %s', quote_nullable(outcome));
    end if;
    if change.author_id = context.user_id then
        raise exception using
            errcode = 'ODR04',
            message = 'the author of a change cannot decide it',
            detail = format('change_id %s, author %s', change.change_id, change.author_id);
    end if;
    scope := odl.scope_of(change.project_id);
    select r.role_id into approver_role
    from odl.user_roles(context.user_id, scope.node_id) as r
    inner join odl.rbac_roles as x on r.role_id = x.role_id
    inner join odl.users as u on u.user_id = context.user_id
    where r.usable and x.approver and u.agent is null
    order by r.role_id
    limit 1;
    if approver_role is null then
        raise exception using
            errcode = 'ODR06',
            message = 'only a human holding an approver role may decide a change',
            detail = format('user_id %s, project_id %s', context.user_id, change.project_id);
    end if;
    perform odl.require_right(change.project_id, s.section, 'A', 'deciding this change')
    from unnest(change.sections) as s (section);

    insert into odl.approvals (tenant_id, change_id, project_id, section, outcome, approver_id, approver_role, comment)
    select context.tenant_id, change.change_id, change.project_id, s.section, outcome, context.user_id, approver_role,
        odl_approve_change.comment
    from unnest(change.sections) as s (section);

    if outcome = 'approved' and change.kind = 'patch' then
        select g.section into gate
        from odl.rbac_phase_gates as g
        where g.phase = scope.phase and g.mode = 'locked' and g.section = any(change.sections)
        limit 1;
        if gate is not null then
            raise exception using
                errcode = 'ODG01',
                message = format('the %s phase locks section %s', scope.phase, gate),
                detail = format('change_id %s stays pending', change.change_id);
        end if;
        stale := odl.stale_pointers(change.doc_id, change.base_version, change.patch);
        if stale is not null then
            raise exception using
                errcode = 'ODR05',
                message = 'change request is stale: the document changed where it writes',
                detail = format('change_id %s against version %s; changed since: %s', change.change_id,
                    change.base_version, stale),
                hint = 'Reject it and propose the change again on the current version.';
        end if;
        select w.version, w.doc_hash into new_version, new_hash
        from odl.odl_documents as d
        cross join lateral odl.write_patch(
            change.doc_id, change.patch, d.version, coalesce(change.intent, 'change ' || change.change_id),
            array(select jsonb_array_elements_text(change.evidence_uris)), change.tool_version, false, 100
        ) as w
        where d.doc_id = change.doc_id;
    elsif outcome = 'approved' then
        if not exists (
            select from odl.project_phases as now_in
            inner join odl.project_phases as next on next.position = now_in.position + 1
            where now_in.phase = scope.phase and next.phase = change.target_phase
        ) then
            raise exception using
                errcode = 'ODG02',
                message = format('a project in %s cannot move to %s', scope.phase, change.target_phase),
                detail = format('change_id %s was requested in another phase', change.change_id);
        end if;
        update odl.projects as p set phase = change.target_phase
        where p.tenant_id = context.tenant_id and p.project_id = change.project_id;
        perform odl.audit_append(
            'phase.changed', jsonb_build_object('change_id', change.change_id, 'from', scope.phase, 'to', change.target_phase),
            change.project_id
        );
    end if;

    update odl.change_requests as c
    set status = case outcome when 'approved' then 'merged' else 'rejected' end,
        decided_by = context.user_id,
        decided_at = now(),
        merged_version = new_version
    where c.tenant_id = context.tenant_id and c.change_id = change.change_id;
    perform odl.audit_append(
        'change.' || outcome,
        jsonb_build_object(
            'change_id', change.change_id, 'kind', change.kind, 'sections', change.sections,
            'approver_role', approver_role, 'merged_version', new_version, 'comment', odl_approve_change.comment
        ),
        change.project_id, change.doc_id
    );
    return query select case outcome when 'approved' then 'merged' else 'rejected' end, new_version, new_hash;
end
$$;

revoke all on function odl.odl_approve_change(text, text, text) from public;
grant execute on function odl.odl_approve_change(text, text, text) to odl_app;
comment on function odl.odl_approve_change(text, text, text) is
'Decides a pending change request (outcome approved or rejected). Approved patches merge as a new version '
'(ODR05 if the document changed where they write since, ODG01 if the phase now locks them); approved phase '
'changes move the project. Needs a human approver with A on every section of the change who is not its author';

create or replace function odl.odl_change_requests(project_id text default null, status text default 'pending')
returns table (
    change_id text,
    project_id text,
    kind text,
    doc_id text,
    base_version integer,
    target_phase text,
    sections text[],
    reason text,
    intent text,
    author_id text,
    created_at timestamptz,
    status text,
    decided_by text,
    decided_at timestamptz,
    merged_version integer,
    patch jsonb
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The patch only for a reader who may read every section it touches.
    select
        c.change_id, c.project_id, c.kind, c.doc_id, c.base_version, c.target_phase, c.sections, c.reason,
        c.intent, c.author_id, c.created_at, c.status, c.decided_by, c.decided_at, c.merged_version,
        case when not exists (
            select from unnest(c.sections) as s (section)
            inner join odl.rbac_sections as x on s.section = x.section
            inner join odl.classification_levels as l on x.classification = l.level
            left join odl.user_rights((odl.require_context()).user_id, p.node_id) as r on s.section = r.section
            where coalesce(strpos(r.rights, 'R'), 0) = 0 or l.rank > r.clearance
        ) then c.patch end
    from odl.change_requests as c
    inner join odl.projects as p on c.tenant_id = p.tenant_id and c.project_id = p.project_id
    where (odl_change_requests.project_id is null or c.project_id = odl_change_requests.project_id)
        and (odl_change_requests.status is null or c.status = odl_change_requests.status)
        and odl.readable_project(c.project_id)
    order by c.created_at, c.change_id
$$;

revoke all on function odl.odl_change_requests(text, text) from public;
grant execute on function odl.odl_change_requests(text, text) to odl_app, odl_analyst;
comment on function odl.odl_change_requests(text, text) is
'Change requests of the projects the caller may read (of one project; pending unless status says otherwise, '
'null for all); patch is null unless the caller may read every section it touches';
-- sql/040_documents_api/readable_documents.sql as released in @v0.1.0
-- Analysts read documents through this view, with the rules of
-- odl_get_document(): it runs as its owner under RLS (the context's
-- tenant only), lists the documents of projects where the reader holds R
-- on some section, and redacts each one for the reader.

create or replace view odl.readable_documents
as
select
    d.doc_id,
    d.project_id,
    d.version,
    d.doc_hash,
    d.schema_version,
    d.valid_from,
    r.document,
    r.redacted
from odl.odl_documents as d
inner join odl.projects as p on d.tenant_id = p.tenant_id and d.project_id = p.project_id
cross join lateral odl.redact(d.doc_json, p.node_id) as r
where odl.readable_project(d.project_id);

revoke all on odl.readable_documents from public;
grant select on odl.readable_documents to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader. These
-- run with the reader's rights, under RLS, and only ever remove content.
grant execute on function
odl.require_context(), odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[]),
odl.readable_project(text), odl.redact(jsonb, text), odl.jsonb_without(jsonb, text[])
to odl_analyst;
comment on view odl.readable_documents is
'The current documents the reader may read, each redacted as odl_get_document() would (odl_analyst)';
-- sql/040_documents_api/odl_jsonpatch.sql as released in @v0.1.0
-- The pure engine, for tools and tests: no storage, no schema.

create or replace function odl.odl_jsonpatch_apply(doc jsonb, patch jsonb)
returns jsonb
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record := odl.document_patch(doc, patch, null);
begin
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    return outcome.document;
end
$$;

revoke all on function odl.odl_jsonpatch_apply(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_apply(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_apply(jsonb, jsonb) is
'The document after an RFC 6902 patch, atomically; errors name the operation and its pointer';

create or replace function odl.odl_jsonpatch_inverse(doc jsonb, patch jsonb)
returns jsonb
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record := odl.document_patch(doc, patch, null);
begin
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    return outcome.inverse_patch;
end
$$;

revoke all on function odl.odl_jsonpatch_inverse(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_inverse(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_inverse(jsonb, jsonb) is
'The patch that undoes an RFC 6902 patch applied to doc: applied to the result, it gives doc back exactly';

call odl.adopt_objects();

commit;
