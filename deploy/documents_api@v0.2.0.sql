-- Frozen by tools/srcguard rework: documents_api as released in @v0.2.0.
-- Deploy odl-db:documents_api to pg
-- v0.2.0, Document core v2: reworked from @v0.1.0 (see deploy/documents_api@v0.1.0.sql)
-- requires: documents
-- requires: canonical
-- requires: access_api
-- requires: documents_v2

begin;

-- plpython/odl_db/jsonpatch.py as released in @v0.2.0
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
  operation is checked for it before any is applied; an empty patch is a
  valid no-op, as RFC 6902 and json-patch-tests have it (the versioned
  writer, odl_apply_patch, refuses it: a version must change something);
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

from odl_db.guards import check_interrupts, nesting_depth

__all__ = [
    "KINDS",
    "OPERATIONS",
    "PatchError",
    "apply",
    "equal",
    "format_pointer",
    "parse_pointer",
]

KINDS = (
    "malformed_patch",
    "too_many_operations",
    "path_not_found",
    "test_failed",
    "nesting_too_deep",
    "document_too_large",
)
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


def apply(
    doc: Any,
    patch: Any,
    *,
    max_operations: float = 100,
    copy_on_write: bool = False,
    max_depth: int | None = None,
    max_copied: int | None = None,
) -> tuple[Any, list[dict]]:
    """Apply an RFC 6902 patch; return the patched document and its inverse patch.

    `doc` may be changed in place and is garbage after an error. Values from
    the patch are copied, so neither the patch nor the inverse shares any
    object with the result. The inverse may hold up to twice as many
    operations as the patch, and is empty when the patch only tests.

    With `copy_on_write`, `doc` is never changed: every container the patch
    changes is copied first (only the containers on its paths, the rest is
    shared), so the result shares each unchanged subtree with `doc`, and an
    object found in both is unchanged. A failed patch leaves `doc` intact.

    Limits, for a caller who may be hostile: with `max_depth`, no operation
    may leave the document nesting deeper than it (`nesting_too_deep`);
    `doc` is taken to be within it, so only what each operation places is
    measured, at the depth of its path. With `max_copied`, the values that
    copy and move duplicate may hold that many members and elements in
    all (`document_too_large`): a 400 KB patch of copies could otherwise
    build gigabytes. Every operation, and every container copied, checks
    for a pending cancel (guards.check_interrupts).
    """
    operations = _operations(patch, max_operations)
    undo: list[dict] = []
    owned: set[int] | None = None
    budget = None if max_copied is None else [max_copied, max_copied]
    if copy_on_write and isinstance(doc, (dict, list)):
        doc = _shallow(doc)
        owned = {id(doc)}
    for op in operations:
        check_interrupts()
        if max_depth is not None and op.name != "test" and op.name != "remove":
            _check_depth(doc, op, max_depth)
        doc = _APPLY[op.name](doc, op, undo, owned, budget)
        if owned is not None and isinstance(doc, (dict, list)) and id(doc) not in owned:
            # A move to "" made a value of `doc` the whole document.
            doc = _shallow(doc)
            owned.add(id(doc))
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
        if not isinstance(b, list) or len(a) != len(b):
            return False
        # A loop, not all() over a generator: one frame per level, so a
        # value as deep as the limit nesting_depth allows stays within
        # Python's recursion limit.
        for x, y in zip(a, b):
            if not equal(x, y):
                return False
        return True
    return False  # a is None (b is not) or not a JSON value


# Checking the patch as a whole


def _operations(patch: Any, max_operations: float) -> list[_Operation]:
    if not isinstance(patch, list):
        raise PatchError("malformed_patch", "a patch must be an array of operations")
    if len(patch) > max_operations:
        raise PatchError(
            "too_many_operations",
            f"the patch has {len(patch)} operations, more than the limit of {max_operations}",
        )
    operations = []
    for index, raw in enumerate(patch):
        if not index % 256:
            check_interrupts()
        operations.append(_operation(index, raw))
    return operations


def _check_depth(doc: Any, op: _Operation, max_depth: int) -> None:
    """Refuses an operation that would place a value deeper than max_depth:
    a value at a path of n tokens nests n levels plus its own."""
    room = max_depth - len(op.tokens)
    if op.name in ("add", "replace"):
        value = op.value
    else:
        try:
            value = _value(doc, op, op.source_tokens, op.source, "from")
        except PatchError:
            return  # the operation itself reports it
    depth = nesting_depth(value, room)
    if depth > room:
        raise PatchError(
            "nesting_too_deep",
            f"operation {op.index} ({op.name}): the document would nest more than {max_depth} levels deep at"
            f" {_quote(op.path)}, over the limit nesting_depth = {max_depth}",
            index=op.index,
            pointer=op.path,
        )


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


_Budget = list  # [members and elements copies may still make, those they could at first]


def _add(doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None) -> Any:
    doc, step = _insert(doc, op, op.tokens, op.path, _copy(op.value), owned)
    undo.append(step)
    return doc


def _remove(doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None) -> Any:
    parent, key, old = _target(doc, op, op.tokens, op.path, "path", owned)
    del parent[key]
    undo.append({"op": "add", "path": op.path, "value": old})
    return doc


def _replace(doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None) -> Any:
    value = _copy(op.value)
    if not op.tokens:
        undo.append({"op": "replace", "path": "", "value": doc})
        return value
    parent, key, old = _target(doc, op, op.tokens, op.path, "path", owned)
    parent[key] = value
    undo.append({"op": "replace", "path": op.path, "value": old})
    return doc


def _move(doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None) -> Any:
    if op.source_tokens == op.tokens:
        _value(doc, op, op.source_tokens, op.source, "from")  # a no-op, but from must exist
        return doc
    parent, key, value = _target(doc, op, op.source_tokens, op.source, "from", owned)
    del parent[key]
    doc, step = _insert(doc, op, op.tokens, op.path, value, owned)
    if step["op"] == "remove" and not op.source.startswith(step["path"] + "/"):
        # Nothing was displaced, so moving the value back undoes both steps
        # and keeps a possibly large value out of the inverse.
        undo.append({"op": "move", "from": step["path"], "path": op.source})
    else:
        # Something was displaced, or the value moved into the array element
        # that held it, where moving it back would be a move into its own
        # child. So the inverse adds the value back, and as later operations
        # may change it in the document, it adds a copy of it as it is now.
        undo.append({"op": "add", "path": op.source, "value": _copy(value, budget, op)})
        undo.append(step)
    return doc


def _copy_operation(
    doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None
) -> Any:
    value = _copy(_value(doc, op, op.source_tokens, op.source, "from"), budget, op)
    doc, step = _insert(doc, op, op.tokens, op.path, value, owned)
    undo.append(step)
    return doc


def _test(doc: Any, op: _Operation, undo: list[dict], owned: set[int] | None, budget: _Budget | None) -> Any:
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


def _insert(
    doc: Any, op: _Operation, tokens: list[str], path: str, value: Any, owned: set[int] | None
) -> tuple[Any, dict]:
    """Add `value` at `path`; return the document and the step that undoes it."""
    if not tokens:
        return value, {"op": "replace", "path": "", "value": doc}
    parent = _parent(doc, op, tokens, path, "path", adding=True, owned=owned)
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
    doc: Any, op: _Operation, tokens: list[str], pointer: str, member: str, owned: set[int] | None = None
) -> tuple[dict | list, str | int, Any]:
    """The container of an existing location, its key or index, and its value.
    With `owned` (copy on write), the container may be changed."""
    parent = _parent(doc, op, tokens, pointer, member, adding=False, owned=owned)
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
    doc: Any,
    op: _Operation,
    tokens: list[str],
    pointer: str,
    member: str,
    *,
    adding: bool,
    owned: set[int] | None = None,
) -> Any:
    """The container of the last token. With `owned` (copy on write), each
    container on the way that is not a copy made by this patch is replaced
    by one, so the container returned may be changed."""
    node = doc
    for i in range(len(tokens) - 1):
        token = tokens[i]
        key: str | int
        if isinstance(node, dict):
            key = token
            child = node.get(token, _MISSING)
        elif isinstance(node, list):
            position = _array_index(token)
            key = -1 if position is None else position
            child = node[position] if position is not None and position < len(node) else _MISSING
        else:
            child = _MISSING
        if child is not _MISSING:
            if owned is not None and isinstance(child, (dict, list)) and id(child) not in owned:
                child = node[key] = _shallow(child)
                owned.add(id(child))
            node = child
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


def _shallow(container: dict | list) -> dict | list:
    return dict(container) if isinstance(container, dict) else list(container)


def _copy(value: Any, budget: _Budget | None = None, op: _Operation | None = None) -> Any:
    """A deep copy of a JSON value; strings, numbers and literals are
    immutable. Without recursion, so any depth copies. With `budget`, each
    container's members or elements are spent from it, and an operation
    that overspends is refused."""
    if not isinstance(value, (dict, list)):
        return value
    top = _shallow(value)
    if budget is not None:
        _spend(budget, len(top), op)
    stack = [top]
    while stack:
        node = stack.pop()
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(item, (dict, list)):
                child = node[key] = _shallow(item)
                if budget is not None:
                    _spend(budget, len(child), op)
                stack.append(child)
    return top


def _spend(budget: _Budget, count: int, op: _Operation | None) -> None:
    check_interrupts()
    budget[0] -= count
    if budget[0] < 0:
        where = f"operation {op.index} ({op.name}): " if op is not None else ""
        raise PatchError(
            "document_too_large",
            f"{where}the patch copies more than {budget[1]} values, more than a document within the limit"
            " document_bytes can hold",
            index=op.index if op is not None else None,
            pointer=op.path if op is not None else None,
        )


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
-- plpython/odl_db/pieces.py as released in @v0.2.0
call odl.python_install('odl_db.pieces', $odl_source$"""A document held as pieces of text, so that a write re-serializes only
what its patch changed.

Every write needs two texts of the whole patched document: its RFC 8785
canonical form, to hash, and JSON that casts back to the very same jsonb,
to store. Both are joined from pieces, the two texts of each small subtree,
kept with the document between writes (documents.DocumentCache). The patch
engine copies every container it changes (jsonpatch.apply's copy on write),
so a subtree that is still the same object as before has the same texts,
and only the containers on the patch's paths are joined again.

Numbers are Decimal, as in json.loads(parse_float=Decimal, parse_int=Decimal),
and the storage text spells each as it was written: 2.50 stays 2.50.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from odl_db.canonical import decimal_canonical_json, jsonb_text, utf16_key

__all__ = ["Piece", "build", "from_text", "join", "storage_text"]

# A container whose text is larger than this is kept as the pieces of its
# members (or elements), so that changing one of them rewrites that one.
SPLIT_CHARS = 2048

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_SPACE = re.compile(r"[ \t\n\r]*")


class Piece:
    """The texts of one value: a leaf holds both texts, a split container
    the pieces of its members (dict) or elements (list), and its texts once
    joined. `node` is the value itself, kept so that an identity check tells
    whether it changed."""

    __slots__ = ("node", "canonical", "storage", "children")

    def __init__(self, node: Any, canonical: str | None, storage: str | None, children: Any = None) -> None:
        self.node = node
        self.canonical = canonical
        self.storage = storage
        self.children = children


def build(node: Any, old: Piece | None = None, depth: int = 0) -> Piece:
    """The pieces of `node`, taking every piece of `old` whose value is
    still the same object (copy on write guarantees it is unchanged)."""
    if old is not None and old.node is node:
        return old
    # Loops, not comprehensions (a frame each): one frame per level keeps a
    # document as deep as the limit nesting_depth allows within Python's
    # recursion limit.
    if old is not None and old.children is not None:
        below = depth + 1
        if isinstance(node, dict) and isinstance(old.children, dict):
            previous = old.children
            members = {}
            for key, value in node.items():
                members[key] = build(value, previous.get(key), below)
            return Piece(node, None, None, members)
        if isinstance(node, list) and isinstance(old.children, list):
            elements = []
            for value, piece in _matched(node, old.children):
                elements.append(build(value, piece, below))
            return Piece(node, None, None, elements)
    return _new(node, depth)


def _matched(values: list, pieces: list[Piece]) -> list[tuple[Any, Piece | None]]:
    """Each element with the old piece it should start from: the one at the
    same position when the array kept its length (replaced elements), else
    the one of the same object (an insertion or removal shifted them)."""
    if len(values) == len(pieces):
        return list(zip(values, pieces))
    by_identity = {id(piece.node): piece for piece in pieces}
    return [(value, by_identity.get(id(value))) for value in values]


def _new(node: Any, depth: int) -> Piece:
    storage = storage_text(node)
    if len(storage) > SPLIT_CHARS and isinstance(node, (dict, list)) or depth == 0 and isinstance(node, dict):
        if isinstance(node, dict):
            members = {}
            for key, value in node.items():
                members[key] = _new(value, depth + 1)
            return Piece(node, None, None, members)
        elements = []
        for value in node:
            elements.append(_new(value, depth + 1))
        return Piece(node, None, None, elements)
    return Piece(node, _canonical(node), storage)


def from_text(text: str) -> tuple[Any, Piece]:
    """Parse JSON text (as jsonb writes it) into a value and its pieces. The
    storage texts are slices of `text`, so nothing is written again."""
    value, piece, end = _parse(text, _SPACE.match(text, 0).end(), 0)
    if _SPACE.match(text, end).end() != len(text):
        raise ValueError("extra data after the JSON value")
    return value, piece


def _parse(text: str, start: int, depth: int) -> tuple[Any, Piece, int]:
    opening = text[start : start + 1]
    if opening not in ("{", "[") or depth > 0:
        # The C scanner reads the value whole; one found larger than a piece
        # is read again below, member by member (few are).
        value, end = _DECODER.scan_once(text, start)
        if opening not in ("{", "[") or end - start <= SPLIT_CHARS:
            storage = text[start:end]
            return value, Piece(value, _canonical(value), storage), end
    # A container split into pieces: the root always, any larger one too.
    position = _SPACE.match(text, start + 1).end()
    if opening == "{":
        members: dict = {}
        pieces: dict = {}
        if text[position] == "}":
            return members, Piece(members, None, None, pieces), position + 1
        while True:
            key, position = _DECODER.scan_once(text, position)
            position = _SPACE.match(text, position).end()
            if text[position] != ":":
                raise ValueError(f"expected ':' at {position}")
            position = _SPACE.match(text, position + 1).end()
            members[key], pieces[key], position = _parse(text, position, depth + 1)
            position = _SPACE.match(text, position).end()
            if text[position] == "}":
                return members, Piece(members, None, None, pieces), position + 1
            if text[position] != ",":
                raise ValueError(f"expected ',' or '}}' at {position}")
            position = _SPACE.match(text, position + 1).end()
    elements: list = []
    element_pieces: list = []
    if text[position] == "]":
        return elements, Piece(elements, None, None, element_pieces), position + 1
    while True:
        value, piece, position = _parse(text, position, depth + 1)
        elements.append(value)
        element_pieces.append(piece)
        position = _SPACE.match(text, position).end()
        if text[position] == "]":
            return elements, Piece(elements, None, None, element_pieces), position + 1
        if text[position] != ",":
            raise ValueError(f"expected ',' or ']' at {position}")
        position = _SPACE.match(text, position + 1).end()


def join(piece: Piece) -> tuple[str, str]:
    """The canonical text and the storage text of the whole value. A split
    container below the top keeps its joined texts, so an unchanged one is
    not joined again; the top's are returned, not kept."""
    children = piece.children
    if children is None:
        return piece.canonical, piece.storage
    if isinstance(children, dict):
        names = sorted(children, key=utf16_key)
        texts = [(encode_basestring(name) + ":", _texts(children[name])) for name in names]
        canonical = "{" + ",".join([name + text[0] for name, text in texts]) + "}"
        storage = "{" + ",".join([name + text[1] for name, text in texts]) + "}"
    else:
        texts = [_texts(child) for child in children]
        canonical = "[" + ",".join([text[0] for text in texts]) + "]"
        storage = "[" + ",".join([text[1] for text in texts]) + "]"
    return canonical, storage


def _texts(piece: Piece) -> tuple[str, str]:
    if piece.canonical is None:
        piece.canonical, piece.storage = join(piece)
    return piece.canonical, piece.storage


def storage_text(value: Any) -> str:
    """JSON text that casts to exactly this value as jsonb: every number
    spelled as its Decimal is (2.50 stays 2.50). The C encoder writes it
    unless some number has no float spelling the same; then the exact
    writer does."""
    text = jsonb_text(value)
    if text is None:
        parts: list[str] = []
        _storage(value, parts)
        text = "".join(parts)
    return text


def _storage(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        parts.append(str(value))
    elif isinstance(value, (int, float)):
        parts.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, dict):
        parts.append("{")
        first = True
        for key, item in value.items():
            if not first:
                parts.append(",")
            first = False
            parts.append(encode_basestring(key))
            parts.append(":")
            _storage(item, parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _storage(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def _canonical(value: Any) -> str:
    """RFC 8785 text of one piece (the exact writer only where the C encoder
    cannot, for this piece, not the whole document)."""
    return encode_basestring(value) if isinstance(value, str) else decimal_canonical_json(value)
$odl_source$);
-- plpython/odl_db/integrity.py as released in @v0.2.0
call odl.python_install('odl_db.integrity', $odl_source$"""The rules of an ODL-SD document that its JSON Schema cannot express.

Errors refuse a document; they are the rules the format states:
`schema_version` is supported, instance ids are unique, every connection
end names an instance of the document (unless the document declares that
its instances live outside it), and a hierarchy node that gives both `type`
(the spec's name of its level) and `level` (odl-db's earlier one) gives the
same level twice.

Warnings never refuse; they cover what the spec leaves open: a `type_ref`,
`parent_ref`, sub-element `type_ref` or hierarchy id that names nothing in
the document (it may name something in another document), a child node
whose level is not below its parent's, repeated connection, component or
node ids, and a connection's `port_id` that no port of its instance has.

Shapes the schema refuses are skipped here. One pass over each list and a
dict lookup per reference keep this O(document): the writer runs it on
every write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from odl_db.canonical import canonical_json

__all__ = ["ERROR", "LEVELS", "SUPPORTED_VERSIONS", "WARNING", "findings", "integrity_errors", "instances_external"]

ERROR = "error"
WARNING = "warning"
SUPPORTED_VERSIONS = frozenset({"4.1"})
LEVELS = ("PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}

Error = tuple[str, str]  # (RFC 6901 pointer, message)
Finding = tuple[str, str, str]  # (pointer, severity, message)


def integrity_errors(doc: Any, supported_versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[Error]:
    """The errors alone, as (pointer, message), sorted by pointer: what
    refuses a write."""
    return [(pointer, message) for pointer, _, message in _Check(doc, supported_versions, False).run()]


def findings(doc: Any, supported_versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[Finding]:
    """Errors and warnings, as (pointer, severity, message), sorted by pointer."""
    return _Check(doc, supported_versions, True).run()


def instances_external(doc: dict) -> bool:
    """Whether the document declares that instances live outside it:
    external references enabled or partitioning present (the spec's nested
    form), enabled by the authors' flat flags, or an odl-db `external_refs`
    entry pointing into /instances."""
    dm = doc.get("data_management")
    if not isinstance(dm, dict):
        return False
    strategies = dm.get("scalability_strategies")
    if isinstance(strategies, dict):
        references = strategies.get("external_references")
        if isinstance(references, dict) and references.get("enabled") is True:
            return True
        if strategies.get("partitioning") is not None:
            return True
    if dm.get("external_refs_enabled") is True or dm.get("partitioning_enabled") is True:
        return True
    refs = dm.get("external_refs")
    for ref in refs if isinstance(refs, list) else ():
        pointer = ref.get("pointer") if isinstance(ref, dict) else None
        if isinstance(pointer, str) and (pointer == "/instances" or pointer.startswith("/instances/")):
            return True
    return False


def _token(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _order(finding: Finding) -> tuple:
    # Array indexes sort as numbers, so /instances/2 comes before /instances/10.
    tokens = finding[0].split("/")[1:] if finding[0] else []
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens), finding[2]


def _is_group(value: dict) -> bool:
    # As the schema reads a map of components: a value without category
    # whose own values have it groups components.
    return "category" not in value and any(isinstance(v, dict) and "category" in v for v in value.values())


class _Check:
    def __init__(self, doc: Any, supported_versions: Iterable[str], warnings: bool) -> None:
        self.doc = doc
        self.supported = sorted(supported_versions)
        self.warnings = warnings
        self.found: list[Finding] = []
        self.nodes: dict[str, str] = {}  # node id -> its pointer
        self.components: dict[str, Any] = {}  # component name or id -> the component
        self.instances: dict[str, int] = {}  # instance id -> index of its first occurrence
        self.instance_set: set | None = None  # the instance ids, when proved unique without the dict
        self.type_ports: dict[str, frozenset] = {}  # component name or id -> its port ids

    def error(self, pointer: str, message: str) -> None:
        self.found.append((pointer, ERROR, message))

    def warn(self, pointer: str, message: str) -> None:
        self.found.append((pointer, WARNING, message))

    def run(self) -> list[Finding]:
        doc = self.doc
        if not isinstance(doc, dict):
            return [("", ERROR, "document must be an object")]
        self.version()
        self.hierarchy()
        if self.warnings:
            self.libraries()
        self.instance_ids()
        self.connections()
        return sorted(self.found, key=_order)

    def version(self) -> None:
        if "schema_version" not in self.doc:
            self.error("", "missing schema_version")
        elif self.doc["schema_version"] not in self.supported:
            known = f" (supported: {', '.join(self.supported)})" if self.supported else ""
            self.error(
                "/schema_version",
                f"unsupported schema version {canonical_json(self.doc['schema_version'])}{known}",
            )

    # --- hierarchy -------------------------------------------------------------

    def hierarchy(self) -> None:
        top = self.doc.get("hierarchy")
        if not isinstance(top, dict):
            return
        references: list[tuple[str, str, str]] = []  # (pointer, id, what names it)
        # Explicitly stacked: a document may nest nodes deeper than Python recurses.
        # The enclosing node's id: None at the top, False when it has none.
        stack: list[tuple[dict, str, str | bool | None, str | None]] = [(top, "/hierarchy", None, None)]
        while stack:
            node, pointer, parent, parent_level = stack.pop()
            level = self.node_level(node, pointer)
            ident = node.get("id")
            if self.warnings:
                if isinstance(ident, str):
                    if ident in self.nodes:
                        self.warn(f"{pointer}/id", f"duplicate node id {canonical_json(ident)} (first at {self.nodes[ident]}/id)")
                    else:
                        self.nodes[ident] = pointer
                if level in _RANK and parent_level in _RANK and _RANK[level] <= _RANK[parent_level]:
                    member = "type" if "type" in node else "level"
                    self.warn(
                        f"{pointer}/{member}",
                        f"level {canonical_json(level)} is not below its parent's level {canonical_json(parent_level)}",
                    )
                parent_id = node.get("parent_id")
                if isinstance(parent_id, str):
                    if parent is None:
                        references.append((f"{pointer}/parent_id", parent_id, "parent node"))
                    elif isinstance(parent, str) and parent_id != parent:
                        self.warn(
                            f"{pointer}/parent_id",
                            f"parent_id {canonical_json(parent_id)} is not the enclosing node {canonical_json(parent)}",
                        )
            children = node.get("children")
            if not isinstance(children, list):
                continue
            for i in range(len(children) - 1, -1, -1):
                child = children[i]
                if isinstance(child, dict):
                    stack.append((child, f"{pointer}/children/{i}", ident if isinstance(ident, str) else False, level))
                elif isinstance(child, str) and self.warnings:
                    references.append((f"{pointer}/children/{i}", child, "child node"))
        for pointer, ident, what in references:
            if ident not in self.nodes:
                self.warn(pointer, f"{what} {canonical_json(ident)} is not in this document")

    def node_level(self, node: dict, pointer: str) -> str | None:
        kind, level = node.get("type"), node.get("level")
        if isinstance(kind, str) and isinstance(level, str) and kind != level:
            self.error(f"{pointer}/level", f"level {canonical_json(level)} disagrees with type {canonical_json(kind)}")
        return kind if isinstance(kind, str) else level if isinstance(level, str) else None

    # --- libraries ---------------------------------------------------------------

    def libraries(self) -> None:
        libraries = self.doc.get("libraries")
        components = libraries.get("components") if isinstance(libraries, dict) else None
        listed: list[tuple[str, Any]] = []  # (pointer, component)
        if isinstance(components, dict):
            for name, value in components.items():
                if not isinstance(value, dict):
                    continue
                pointer = f"/libraries/components/{_token(name)}"
                if _is_group(value):
                    for member, component in value.items():
                        if isinstance(component, dict):
                            self.component_name(member, component, f"{pointer}/{_token(member)}")
                            listed.append((f"{pointer}/{_token(member)}", component))
                else:
                    self.component_name(name, value, pointer)
                    listed.append((pointer, value))
        elif isinstance(components, list):
            for i, component in enumerate(components):
                if isinstance(component, dict):
                    self.component_name(component.get("id"), component, f"/libraries/components/{i}/id")
                    listed.append((f"/libraries/components/{i}", component))
        for pointer, component in listed:
            # Other identities a type_ref may use: the supplement's and a library file's.
            management = component.get("component_management")
            identity = management.get("component_identity") if isinstance(management, dict) else None
            if isinstance(identity, dict):
                self.component_name(
                    identity.get("component_id"), component,
                    f"{pointer}/component_management/component_identity/component_id",
                )
            metadata = component.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("id"), str):
                self.components.setdefault(metadata["id"], component)
        for pointer, component in listed:
            elements = component.get("sub_elements")
            for i, element in enumerate(elements if isinstance(elements, list) else ()):
                ref = element.get("type_ref") if isinstance(element, dict) else None
                if isinstance(ref, str) and ref not in self.components:
                    self.warn(
                        f"{pointer}/sub_elements/{i}/type_ref",
                        f"component {canonical_json(ref)} is not in this document's library",
                    )

    def component_name(self, name: Any, component: dict, pointer: str) -> None:
        if not isinstance(name, str):
            return
        held = self.components.get(name)
        if held is None:
            self.components[name] = component
        elif held is not component:
            self.warn(pointer, f"duplicate component id {canonical_json(name)}")

    # --- instances and connections ----------------------------------------------------

    def instance_ids(self) -> None:
        instances = self.doc.get("instances")
        if not isinstance(instances, list):
            return
        if not self.warnings:
            # The writer's path: set operations in C prove the common case,
            # unique ids; anything else takes the loop below.
            try:
                ids = [instance["id"] for instance in instances]
                unique = set(ids)
            except (TypeError, KeyError):
                unique = None
            if unique is not None and len(unique) == len(ids):
                self.instance_set = unique
                return
        seen = self.instances
        for i, instance in enumerate(instances):
            ident = instance.get("id") if isinstance(instance, dict) else None
            if not isinstance(ident, str):
                continue
            if ident in seen:
                self.error(
                    f"/instances/{i}/id",
                    f"duplicate instance id {canonical_json(ident)} (first at /instances/{seen[ident]}/id)",
                )
            else:
                seen[ident] = i
        if not self.warnings:
            return
        components, nodes = self.components, self.nodes
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                continue
            ref = instance.get("type_ref")
            if isinstance(ref, str) and ref not in components:
                self.warn(f"/instances/{i}/type_ref", f"component {canonical_json(ref)} is not in this document's library")
            parent = instance.get("parent_ref")
            if isinstance(parent, str) and parent not in nodes and parent not in seen:
                self.warn(f"/instances/{i}/parent_ref", f"{canonical_json(parent)} names no node or instance of this document")

    def connections(self) -> None:
        connections = self.doc.get("connections")
        if not isinstance(connections, list):
            return
        external = instances_external(self.doc)
        if not self.warnings:
            if external:
                return
            if self.instance_set is not None:
                try:
                    ends = {connection["from"]["instance_id"] for connection in connections}
                    ends.update([connection["to"]["instance_id"] for connection in connections])
                except (TypeError, KeyError):
                    ends = None
                if ends is not None and ends <= self.instance_set:
                    return
                # Some end is unknown: find it with the index below.
                self.instances = {instance["id"]: i for i, instance in enumerate(self.doc["instances"])}
        instances, warnings = self.instances, self.warnings
        ports: dict[int, frozenset | None] = {}
        ids: dict[str, int] = {}
        for i, connection in enumerate(connections):
            if not isinstance(connection, dict):
                continue
            if warnings:
                ident = connection.get("id")
                if isinstance(ident, str):
                    if ident in ids:
                        self.warn(
                            f"/connections/{i}/id",
                            f"duplicate connection id {canonical_json(ident)} (first at /connections/{ids[ident]}/id)",
                        )
                    else:
                        ids[ident] = i
            for end in ("from", "to"):
                target = connection.get(end)
                if not isinstance(target, dict):
                    continue
                ident = target.get("instance_id")
                if not isinstance(ident, str):
                    continue
                index = instances.get(ident)
                if index is None:
                    if not external:
                        self.error(f"/connections/{i}/{end}/instance_id", f"unknown instance {canonical_json(ident)}")
                    continue
                port = target.get("port_id")
                if warnings and isinstance(port, str):
                    if index not in ports:
                        ports[index] = self.ports_of(self.doc["instances"][index])
                    known = ports[index]
                    if known is not None and port not in known:
                        self.warn(
                            f"/connections/{i}/{end}/port_id",
                            f"instance {canonical_json(ident)} has no port {canonical_json(port)}",
                        )

    def ports_of(self, instance: dict) -> frozenset | None:
        """The port ids of the instance's component and its own; None when
        neither is known, so nothing can be said."""
        ref = instance.get("type_ref")
        component = self.components.get(ref) if isinstance(ref, str) else None
        own = instance.get("ports")
        if not isinstance(own, list):
            # The spec's case: the component's ports, found once per component.
            if not isinstance(component, dict):
                return None
            if ref not in self.type_ports:
                self.type_ports[ref] = _port_ids(component.get("ports"), None)
            return self.type_ports[ref]
        return _port_ids(own, component.get("ports") if isinstance(component, dict) else None)


def _port_ids(*lists: Any) -> frozenset:
    return frozenset(
        port["id"] for ports in lists if isinstance(ports, list)
        for port in ports if isinstance(port, dict) and isinstance(port.get("id"), str)
    )
$odl_source$);
-- plpython/odl_db/validation.py as released in @v0.2.0
call odl.python_install('odl_db.validation', $odl_source$"""JSON Schema (draft 2020-12) validation, by jsonschema-rs: the Rust
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
$odl_source$);
-- plpython/odl_db/sandbox.py as released in @v0.2.0
call odl.python_install('odl_db.sandbox', $odl_source$"""Validation of caller-supplied JSON Schemas, in a child process.

A caller's schema can make jsonschema-rs run for as long as the caller
likes (3,000 patterns applied to each of 50 long strings; $defs that refer
to each other twice per level, so that the work doubles with each level),
and the Rust engine holds the GIL and never returns to PostgreSQL until it
is done: statement_timeout and pg_cancel_backend() would wait for it.
Nothing can interrupt Rust code, but a process can be killed. So the
backend validates untrusted schemas in a child it forks, and waits for the
answer on a pipe in short slices, checking for interrupts between them; on
a cancel (or any error) it kills and reaps the child before the error goes
on, and the next call forks a new one.

The child runs only Python and Rust code (jsonschema-rs, orjson), never a
PostgreSQL function: it resets PostgreSQL's signal handlers, detaches the
System V shared memory segment, closes every inherited descriptor but its
pipes, dies with its parent (PR_SET_PDEATHSIG), bounds its address space,
and leaves with os._exit, so that PostgreSQL's exit handlers never run in
it. It lives on for the backend's later calls and keeps their compiled
validators, a few, bounded by count and by schema text; it retires once its
peak memory has grown by more than RETIRE_GROWTH.

The documents' own schemas (trusted, registered by the DBA) are validated
in the backend by odl_db.validation, as before: this costs a pipe round trip
per call (tens of microseconds), which the write path need not pay.

`work` is the child's side, a pure function of a request, which pytest
calls directly; `Sandbox` is the plumbing.
"""

from __future__ import annotations

import ctypes
import hashlib
import marshal
import os
import resource
import re
import select
import signal
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jsonschema_rs

from odl_db import validation

__all__ = ["Sandbox", "SandboxFailed", "Validators", "spi_sqlstate", "text_depth", "work"]

# Patterns: plain ones go to the `regex` crate (linear time); the ones that
# need lookaround or backreferences (ECMA-262 has both, the regex crate
# neither) to fancy-regex's backtracking VM, which gives up after this many
# backtracking steps at one position and reports the value as failing the
# pattern ("too costly"). The limit bounds each attempt, not the search: an
# unanchored pattern is tried at every position, so 20,000 characters cost
# ~30 ms at 1,000 steps and ~0.4 s at 10,000. pg_jsonschema keeps
# fancy-regex's default, 1,000,000.
BACKTRACK_LIMIT = 1_000
PATTERNS = jsonschema_rs.FancyRegexOptions(backtrack_limit=BACKTRACK_LIMIT)

CACHE_ENTRIES = 32  # compiled validators kept by the child
CACHE_BYTES = 2 << 20  # and the schema text they were compiled from (~50x that in memory)
RETIRE_GROWTH = 512 << 20  # the child exits once its peak memory grew by this
ADDRESS_SPACE = 4 << 30  # more address space than at the fork: past it, allocations fail
SLICE_MS = 10  # how long the parent waits before it checks for interrupts again

_FRAME = struct.Struct("<Q")


# --- the child's work (pure) ----------------------------------------------------------


class Validators:
    """Compiled validators of caller schemas, by the SHA-256 of the schema
    text, the least recently used dropped first; bounded by CACHE_ENTRIES
    and by the total size of their schema texts, CACHE_BYTES."""

    def __init__(self, entries: int = CACHE_ENTRIES, size: int = CACHE_BYTES) -> None:
        self.entries, self.size = entries, size
        self.held: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
        self.bytes = 0

    def get(self, schema_text: bytes, compile_: Callable[[], Any]) -> Any:
        key = hashlib.sha256(schema_text).digest()
        found = self.held.get(key)
        if found is not None:
            self.held.move_to_end(key)
            return found[0]
        validator = compile_()
        if len(schema_text) <= self.size:
            self.held[key] = (validator, len(schema_text))
            self.bytes += len(schema_text)
            while len(self.held) > self.entries or self.bytes > self.size:
                self.bytes -= self.held.popitem(last=False)[1][1]
        return validator

    def clear(self) -> None:
        self.held.clear()
        self.bytes = 0


class _TooDeep(Exception):
    def __init__(self, what: str, depth: int) -> None:
        super().__init__(what, depth)
        self.what, self.depth = what, depth


_STRINGS = re.compile(rb'"(?:[^"\\]+|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def text_depth(text: bytes) -> int:
    """The nesting depth of JSON text, counted on its brackets outside
    strings: for text the parser refused as too deep."""
    depth = deepest = 0
    for byte in _STRINGS.sub(b"", text).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _parse(text: bytes, what: str, max_depth: int) -> Any:
    try:
        value = validation.parse_json(text)
    except validation.TooDeepError:
        raise _TooDeep(what, text_depth(text)) from None
    # Brackets bound the depth: most values need no walk.
    if text.count(b"[") + text.count(b"{") > max_depth:
        from odl_db.guards import nesting_depth  # noqa: PLC0415 - needed for large values only

        if nesting_depth(value, max_depth) > max_depth:
            raise _TooDeep(what, nesting_depth(value, validation.MAX_DEPTH))
    return value


def _compile(schema: Any) -> Any:
    if not isinstance(schema, (dict, bool)):
        raise validation.InvalidSchemaError("invalid schema: (root): must be an object or a boolean")
    problems = validation.check_schema(schema)
    if problems:
        raise validation.InvalidSchemaError("invalid schema: " + "; ".join(problems[:5]))
    try:
        return jsonschema_rs.validator_for(schema, retriever=_refuse, pattern_options=PATTERNS)
    except jsonschema_rs.ValidationError as error:
        raise validation.InvalidSchemaError(f"cannot resolve a schema reference: {error.message}") from None
    except (ValueError, TypeError) as error:
        raise validation.InvalidSchemaError(f"invalid schema: {error}") from None


def _refuse(uri: str) -> Any:
    raise LookupError(f"remote reference {uri} is not fetched")


def work(request: tuple, validators: Validators) -> tuple:
    """The answer to one request, as the child gives it:

    - ("errors", schema_text, instance_text, max_depth): ("ok", [message, ...])
      as "pointer: message", format an annotation (pg_jsonschema's API);
    - ("problems", schema_text, max_depth): ("ok", [problem, ...]), why the
      schema breaks the draft 2020-12 meta-schema;

    or ("too_deep", what, depth), ("invalid_schema", message) or
    ("invalid", message)."""
    try:
        op, schema_text, *rest = request
        if op == "problems":
            return "ok", validation.check_schema(_parse(schema_text, "the schema", rest[0]))
        instance_text, max_depth = rest
        validator = validators.get(schema_text, lambda: _compile(_parse(schema_text, "the schema", max_depth)))
        instance = _parse(instance_text, "the instance", max_depth)
        return "ok", [f"{pointer or '(root)'}: {message}" for pointer, message in validation._report(validator, instance)]
    except _TooDeep as deep:
        return "too_deep", deep.what, deep.depth
    except validation.InvalidSchemaError as error:
        return "invalid_schema", str(error)
    except (ValueError, RecursionError) as error:
        return "invalid", str(error)


def spi_sqlstate(error: Exception) -> str:
    """The SQLSTATE of a PL/Python SPI error: its class's, or else the one
    packed into spidata (PostgreSQL's MAKE_SQLSTATE, six bits a character)."""
    known = getattr(error, "sqlstate", None)
    if isinstance(known, str):
        return known
    spidata = getattr(error, "spidata", None)
    code = spidata[0] if isinstance(spidata, tuple) and spidata and isinstance(spidata[0], int) else 0
    return "".join(chr(((code >> (6 * i)) & 0x3F) + ord("0")) for i in range(5)) if code else "XX000"


# --- the process ------------------------------------------------------------------------


class SandboxFailed(Exception):
    """The child died (out of memory, or killed) or broke the protocol."""


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class Sandbox:
    """A child process that runs `work`, started on first use.

    `check_interrupts` is called between slices of waiting; whatever it
    raises (the backend's cancel) ends the child before it goes on."""

    def __init__(self, check_interrupts: Callable[[], None], handler: Callable[[tuple, Validators], tuple] = work):
        self.check_interrupts = check_interrupts
        self.handler = handler
        self.pid: int | None = None
        self._to = self._from = -1

    def call(self, request: tuple) -> tuple:
        if self.pid is None:
            self._start()
        try:
            payload = marshal.dumps(request)
            self._send(_FRAME.pack(len(payload)) + payload)
            retire, reply = marshal.loads(self._receive())
        except BaseException:
            self.stop()
            raise
        if retire:
            self.stop()
        return reply

    def stop(self) -> None:
        """Kills and reaps the child; the next call starts another."""
        pid, self.pid = self.pid, None
        for fd in (self._to, self._from):
            if fd >= 0:
                os.close(fd)
        self._to = self._from = -1
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while True:
                try:
                    os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    break

    # The parent's side of the pipes: non-blocking, waited on in slices.

    def _wait(self, poller: Any) -> None:
        while not poller.poll(SLICE_MS):
            self.check_interrupts()

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._to, view):]
            except BlockingIOError:
                self._wait(self._writable)
            except BrokenPipeError:
                raise SandboxFailed(self._death()) from None

    def _receive(self) -> bytes:
        """One frame's payload; waits first, since the answer is never
        there at once."""
        parts: list[bytes] = []
        have, size = 0, None
        while size is None or have < size + _FRAME.size:
            self._wait(self._readable)
            try:
                chunk = os.read(self._from, max(1 << 16, (size or 0) + _FRAME.size - have))
            except BlockingIOError:
                continue
            if not chunk:
                raise SandboxFailed(self._death())
            parts.append(chunk)
            have += len(chunk)
            if size is None and have >= _FRAME.size:
                parts = [b"".join(parts)]
                size = _FRAME.unpack_from(parts[0])[0]
        return b"".join(parts)[_FRAME.size:]

    def _death(self) -> str:
        pid, self.pid = self.pid, None
        status = 0
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return f"the validating process was ended by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"the validating process exited with status {os.waitstatus_to_exitcode(status)}"

    def _start(self) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 70
            try:
                os.close(down_w)
                os.close(up_r)
                _child_setup(parent, down_r, up_w)
                _child_loop(down_r, up_w, self.handler)
                status = 0
            except BaseException:  # noqa: BLE001 - nothing may escape into PostgreSQL's code
                pass
            finally:
                os._exit(status)
        os.close(down_r)
        os.close(up_w)
        os.set_blocking(down_w, False)
        os.set_blocking(up_r, False)
        self.pid, self._to, self._from = pid, down_w, up_r
        self._readable, self._writable = select.poll(), select.poll()
        self._readable.register(up_r, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._writable.register(down_w, select.POLLOUT | select.POLLHUP | select.POLLERR)


def _child_setup(parent: int, down: int, up: int) -> None:
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(71)
    # PostgreSQL's handlers would act on a backend that is not this process.
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # Attached to the System V segment, this process would count as a live
    # backend to a postmaster that restarts.
    try:
        segment = ctypes.c_void_p.in_dll(_libc, "UsedShmemSegAddr")
        if segment.value:
            _libc.shmdt(segment)
    except ValueError:
        pass
    # The client's socket and the postmaster's pipes are not ours.
    low, high = sorted((down, up))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mapped = _status("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + ADDRESS_SPACE, mapped + ADDRESS_SPACE))


def _status(field: str) -> int:
    """A size in bytes from /proc/self/status."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1]) * 1024
    return 0


def _peak_memory() -> int:
    """The most memory this process has held, in bytes: a system call, where
    reading /proc/self/status would cost more than a small validation."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child_loop(down: int, up: int, handler: Callable[[tuple, Validators], tuple]) -> None:
    validators = Validators()
    start = _peak_memory()
    while True:
        payload = _read_frame(down)
        if payload is None:
            return  # the parent closed the pipe
        try:
            reply = handler(marshal.loads(payload), validators)
        except MemoryError:
            validators.clear()
            reply = ("failed", "out of memory")
        del payload
        retire = _peak_memory() - start > RETIRE_GROWTH
        answer = marshal.dumps((retire, reply))
        _write_all(up, _FRAME.pack(len(answer)) + answer)
        if retire:
            return


def _read_frame(fd: int) -> bytes | None:
    """The payload of the next frame, None at the end of the pipe."""
    data = os.read(fd, 1 << 16)
    while 0 < len(data) < _FRAME.size:
        data += os.read(fd, _FRAME.size - len(data))
    if len(data) < _FRAME.size:
        return None
    size = _FRAME.unpack_from(data)[0]
    parts, have = [data[_FRAME.size:]], len(data) - _FRAME.size
    while have < size:
        chunk = os.read(fd, size - have)
        if not chunk:
            return None
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
$odl_source$);
-- plpython/odl_db/documents.py as released in @v0.2.0
call odl.python_install('odl_db.documents', $odl_source$"""Writing a document: apply a patch, check the result, hash it.

Failures come back as data, an (sqlstate, message, detail) triple, rather
than as exceptions: PL/Python prefixes every error it raises with the
exception's class name, so the SQL API raises them itself, cleanly. Every
failing JSON pointer is named in the detail, one per line.
"""

from __future__ import annotations

import gc
import json
import re
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Callable, NamedTuple, Protocol

from odl_db import canonical, guards, jsonpatch, pieces, validation
from odl_db.guards import NO_LIMITS, Limits, check_interrupts

PATCH_SQLSTATES = {
    "malformed_patch": "ODP01",
    "too_many_operations": "ODP02",
    "path_not_found": "ODP03",
    "test_failed": "ODP04",
    "nesting_too_deep": "ODL02",
    "document_too_large": "ODL01",
}
SCHEMA_INVALID = "ODS01"
INTEGRITY_VIOLATION = "ODS02"

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


def apply(
    doc: Any,
    patch: Any,
    max_operations: int | None = 100,
    *,
    copy_on_write: bool = False,
    limits: Limits = NO_LIMITS,
) -> Outcome:
    """The patched document and its inverse, held to the limits
    nesting_depth (of what the patch places) and document_bytes (half of
    it bounds the values copy and move duplicate: each takes two bytes of
    JSON text at least)."""
    document_bytes = limits.value("document_bytes")
    try:
        document, inverse = jsonpatch.apply(
            doc,
            patch,
            max_operations=max_operations if max_operations is not None else float("inf"),
            copy_on_write=copy_on_write,
            max_depth=limits.value("nesting_depth"),
            max_copied=None if document_bytes is None else document_bytes // 2,
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
    limits: Limits = NO_LIMITS,
) -> Outcome:
    """Apply `patch` to `doc`, then check and hash the result.

    `jsonb_numbers` says that every number is a Decimal, as the jsonb
    transform delivers them; it allows the fast hash and the text result.

    `doc` is a stored version, so it was valid against the schema of its
    schema_version when it was written: unless the patch changes that
    version, the schema is checked only where the patch changed it (see
    check's `previous`). Changing a registered schema in place therefore
    leaves existing documents as they were judged.
    """
    outcome = apply(doc, patch, max_operations, copy_on_write=True, limits=limits)
    if outcome.sqlstate:
        return outcome
    document = outcome.document
    checked = check(document, schema_of, cache, previous=_same_version(doc, document), jsonb_numbers=jsonb_numbers)
    text = canonical.jsonb_text(document) if jsonb_numbers and not checked.sqlstate else None
    if text is not None:
        limits.check_text(text, "document_bytes", "the patched document")
    return checked._replace(document=None if text else document, inverse=outcome.inverse, text=text)


def check(
    doc: Any,
    schema_of: SchemaLookup,
    cache: dict,
    *,
    previous: Any = None,
    jsonb_numbers: bool = False,
    doc_hash: str | None = None,
) -> Outcome:
    """The document's hash if it is valid; otherwise every failing pointer.

    With `previous`, `doc` is a patched version of `previous`, which was
    valid against the same schema and shares every unchanged subtree with
    it, and the schema is checked only where it changed
    (validation.schema_errors_after_patch); the integrity rules are checked
    in full either way.

    Results are not cached: the content hash reads numbers as doubles, so
    1 and 1.0000000000000000001 share it, and only one of them is an
    integer. `doc_hash` is the document's content hash when the caller
    already has it. A number beyond a double raises NumberOutOfRange,
    naming its pointer.
    """
    if doc_hash is None:
        try:
            doc_hash = canonical.hash_text(
                canonical.decimal_canonical_json(doc) if jsonb_numbers else canonical.canonical_json(doc)
            )
        except canonical.NumberOutOfRange:
            canonical.refuse_out_of_range(doc)
            raise
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    schema = schema_of(version) if isinstance(version, str) else None
    if schema is None:
        errors = validation.integrity_errors(doc, supported_versions=())
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", errors)

    schema_problems = (
        validation.schema_errors(doc, schema, cache)
        if previous is None
        else validation.schema_errors_after_patch(doc, schema, previous, cache)
    )
    integrity_problems = validation.integrity_errors(doc, supported_versions=(version,))
    if schema_problems:
        return _failure(SCHEMA_INVALID, f"document does not match the schema of version {version}", schema_problems)
    if integrity_problems:
        return _failure(INTEGRITY_VIOLATION, "document violates the integrity rules", integrity_problems)
    return Outcome(doc_hash=doc_hash)


def replay(doc: Any, patches: list) -> Any:
    """`doc` after each patch in turn (stored patches, known to apply)."""
    for patch in patches:
        check_interrupts()
        doc, _ = jsonpatch.apply(doc, patch, max_operations=float("inf"))
    return doc


def replay_text(doc_text: str, patches_text: str) -> str:
    """replay() of JSON texts, as JSON text that casts to the same jsonb."""
    return pieces.storage_text(replay(parse_json(doc_text), parse_json(patches_text)))


def engine_patch(
    doc_text: str, patch_text: str, limits: Limits, max_operations: int | None = None
) -> tuple[str | None, str | None, Outcome]:
    """The pure engine (odl_jsonpatch_apply and _inverse) on JSON texts:
    the patched document and the inverse patch as JSON text, or a failure.
    Sizes are measured on the texts before they are parsed; the depth of
    both was checked in SQL; the result is held to document_bytes."""
    limits.check_text(doc_text, "document_bytes", "the document")
    limits.check_text(patch_text, "patch_bytes", "the patch")
    doc = parse_json(doc_text)
    patch = parse_patch(patch_text)
    canonical.refuse_out_of_range(patch, patch_text)
    canonical.refuse_out_of_range(doc, doc_text)
    if max_operations is None:
        max_operations = limits.value("engine_operations")
    outcome = apply(doc, patch, max_operations, limits=limits)
    if outcome.sqlstate:
        return None, None, outcome
    text = pieces.storage_text(outcome.document)
    limits.check_text(text, "document_bytes", "the patched document")
    return text, pieces.storage_text(outcome.inverse), outcome


def _failure(sqlstate: str, message: str, errors: list[tuple[str, str]]) -> Outcome:
    detail = "\n".join(f"{pointer or '(root)'}: {text}" for pointer, text in errors)
    count = len(errors)
    return Outcome(
        sqlstate=sqlstate,
        message=f"{message} ({count} error{'s' if count != 1 else ''})",
        detail=detail,
    )


# --- The write path: a per-backend cache of documents as pieces -------------

_ARRAY_STEP = re.compile(r"/(?:[0-9]+|-)$")
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
parse_json = _DECODER.decode
_SEPARATOR = re.compile(r"[ \t\n\r]*(?:,[ \t\n\r]*)?")


def parse_patch(text: str) -> Any:
    """parse_json() for a patch, element by element when it is an array, so
    that a cancel is noticed between its operations: an owner may allow a
    patch of millions of them, which json reads in seconds."""
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] != "[" or len(text) < 65536:
        return parse_json(text)
    elements: list = []
    scan = _DECODER.scan_once
    position = _SEPARATOR.match(text, start + 1).end()
    while text[position : position + 1] != "]":
        if not len(elements) % 1024:
            check_interrupts()
        value, position = scan(text, position)
        elements.append(value)
        position = _SEPARATOR.match(text, position).end()
    if text[position + 1 :].strip():
        raise ValueError("extra data after the JSON value")
    return elements


class Written(NamedTuple):
    """What write() returns: all texts, or a failure as in Outcome."""

    text: str | None = None
    doc_hash: str | None = None
    inverse_text: str | None = None
    changed: list[str] | None = None  # changed_pointers()
    patch_hash: str | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None


# What a cached document costs a backend, per character of its JSON text:
# its Python values and pieces (measured: ~19 bytes, benchmarks/RESULTS.md).
BYTES_PER_CHAR = 20


class State(NamedTuple):
    """One version of a document as this backend holds it."""

    version: int
    doc_hash: str
    tree: Any  # never changed in place: patches copy on write
    piece: pieces.Piece
    chars: int  # length of the storage text, from which the cache estimates its memory


class DocumentCache:
    """The documents this backend read or wrote, so that the next patch of
    one costs O(patch) instead of parsing and hashing the whole document.

    A state is served only for the row it was read from or written to: the
    same version, content hash and row xmin (the transaction that wrote the
    row version). A write proposes its new state; the writer confirms it
    with the xmin of the row it updated. A rolled-back write therefore never
    matches (the row keeps its old xmin), nor does a version another backend
    wrote. Each document keeps its two latest confirmed states, so a
    rollback falls back to the one before at no cost; documents are evicted
    least recently used when their estimated memory (of the latest state:
    the older shares nearly all of it) exceeds `budget_bytes`.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.confirmed: OrderedDict[str, list[tuple[str, State]]] = OrderedDict()
        self.pending: dict[str, State] = {}
        # How each write found its document: cached, caught up, read whole.
        self.counts = {"hits": 0, "caught_up": 0, "read": 0}

    def lookup(self, doc_id: str, version: int, doc_hash: str, xmin: str) -> State | None:
        for row_xmin, state in self.confirmed.get(doc_id, ()):
            if row_xmin == xmin and state.version == version and state.doc_hash == doc_hash:
                self.confirmed.move_to_end(doc_id)
                return state
        return None

    def earlier(self, doc_id: str, version: int) -> tuple[str, State] | None:
        """The newest state this backend holds of a version before `version`,
        with its row xmin, to catch up from."""
        older = [(row_xmin, state) for row_xmin, state in self.confirmed.get(doc_id, ()) if state.version < version]
        return max(older, key=lambda held: held[1].version, default=None)

    def propose(self, doc_id: str, state: State) -> None:
        self.pending[doc_id] = state

    def confirm(self, doc_id: str, version: int, doc_hash: str, xmin: str) -> bool:
        state = self.pending.pop(doc_id, None)
        if state is None or state.version != version or state.doc_hash != doc_hash:
            return False
        self.keep(doc_id, xmin, state)
        return True

    def keep(self, doc_id: str, xmin: str, state: State) -> None:
        states = self.confirmed.pop(doc_id, [])
        self.confirmed[doc_id] = [(xmin, state), *states[:1]]
        while len(self.confirmed) > 1 and self.chars() * BYTES_PER_CHAR > self.budget_bytes:
            self.confirmed.popitem(last=False)

    def chars(self) -> int:
        # A document's older state shares nearly all of the newer one.
        return sum(states[0][1].chars for states in self.confirmed.values())

    def stats(self) -> dict:
        return {
            "documents": len(self.confirmed),
            "states": sum(len(states) for states in self.confirmed.values()),
            "chars": self.chars(),
            "estimated_bytes": self.chars() * BYTES_PER_CHAR,
            "budget_bytes": self.budget_bytes,
            **self.counts,
        }


class Store(Protocol):
    """Where write() reads what its cache lacks: the stored tables."""

    def text(self, doc_id: str, version: int, xmin: str) -> str | None:
        """The document as JSON text if its row is still that version with
        that xmin (a dry run reads without the row lock), else None."""

    def history(self, doc_id: str, version: int, upto: int) -> tuple[str, str, list[str]] | None:
        """The xmin and hash of the row of `version` in odl_document_versions
        and the patches (JSON text) from it to `upto`, in order; None if
        there is no such version."""


def write(
    cache: DocumentCache,
    store: Store,
    doc_id: str,
    version: int,
    doc_hash: str,
    xmin: str,
    patch_text: str,
    schema_of: SchemaLookup,
    validation_cache: dict,
    max_operations: int | None = 100,
    limits: Limits = NO_LIMITS,
) -> Written:
    """Apply a patch (JSON text) to the stored version of a document, check
    and hash the result; the new state is proposed to `cache`. The patch's
    size and depth were checked in SQL; here the patch is held to `limits`
    (what it places, what it copies, the size of the result), and a number
    beyond a double is refused (NumberOutOfRange, 22003).

    When the cache holds no state of this row (another backend wrote since,
    as in a pool of connections), it catches up from an earlier state of
    its own by replaying the patches written since, and only when it holds
    none, or they are many, reads the whole document from `store`. Python's
    cyclic garbage collector is paused meanwhile: JSON values hold no
    cycles, and it would walk the whole document again and again while it
    is built.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _write(
            cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations,
            limits,
        )
    finally:
        if collecting:
            gc.enable()


def _write(
    cache, store, doc_id, version, doc_hash, xmin, patch_text, schema_of, validation_cache, max_operations, limits
):
    state = cache.lookup(doc_id, version, doc_hash, xmin)
    if state is not None:
        cache.counts["hits"] += 1
    else:
        state = _caught_up(cache, store, doc_id, version, doc_hash)
        if state is not None:
            cache.counts["caught_up"] += 1
        else:
            cache.counts["read"] += 1
            text = store.text(doc_id, version, xmin)
            if text is None:
                return Written(
                    sqlstate="ODV01",
                    message="version conflict",
                    # odl.write_patch names the version now current.
                    detail=json.dumps({"doc_id": doc_id, "expected_version": version, "current_version": None}),
                )
            tree, piece = pieces.from_text(text)
            state = State(version, doc_hash, tree, piece, len(text))
        cache.keep(doc_id, xmin, state)

    patch = parse_json(patch_text)
    canonical.refuse_out_of_range(patch, patch_text)
    applied = apply(state.tree, patch, max_operations, copy_on_write=True, limits=limits)
    if applied.sqlstate:
        return Written(sqlstate=applied.sqlstate, message=applied.message, detail=applied.detail)
    document, inverse = applied.document, applied.inverse

    try:
        piece = pieces.build(document, state.piece)
        canonical_text, storage = pieces.join(piece)
    except canonical.NumberOutOfRange:
        canonical.refuse_out_of_range(document)
        raise
    limits.check_text(storage, "document_bytes", "the patched document")
    new_hash = canonical.hash_text(canonical_text)
    checked = check(
        document, schema_of, validation_cache,
        previous=_same_version(state.tree, document), jsonb_numbers=True, doc_hash=new_hash,
    )
    if checked.sqlstate:
        return Written(sqlstate=checked.sqlstate, message=checked.message, detail=checked.detail)
    cache.propose(doc_id, State(version + 1, new_hash, document, piece, len(storage)))
    return Written(
        doc_hash=new_hash,
        text=storage,
        inverse_text=pieces.storage_text(inverse),
        changed=changed_pointers(patch),
        patch_hash=canonical.hash_text(canonical.decimal_canonical_json(patch)),
    )


CATCH_UP_VERSIONS = 50  # beyond this many versions behind, read the document


def _caught_up(cache: DocumentCache, store: Store, doc_id: str, version: int, doc_hash: str) -> State | None:
    """The state of `version` from an earlier one this backend holds, with
    the patches written since applied to it; None when there is none, the
    earlier state is not the committed one, or the result is not the
    stored version."""
    held = cache.earlier(doc_id, version)
    if held is None or version - held[1].version > CATCH_UP_VERSIONS:
        return None
    row_xmin, state = held
    history = store.history(doc_id, state.version, version)
    # The versions row shares the document row's xmin: both are written by
    # the same statement sequence of the writer. Another xmin means the
    # state held is of a write that was rolled back.
    if history is None or history[:2] != (row_xmin, state.doc_hash) or len(history[2]) != version - state.version:
        return None
    tree = state.tree
    try:
        for patch_text in history[2]:
            check_interrupts()
            tree, _ = jsonpatch.apply(tree, parse_json(patch_text), max_operations=float("inf"), copy_on_write=True)
    except jsonpatch.PatchError:
        return None
    piece = pieces.build(tree, state.piece)
    canonical_text, storage = pieces.join(piece)
    if canonical.hash_text(canonical_text) != doc_hash:
        return None
    return State(version, doc_hash, tree, piece, len(storage))


def _same_version(previous: Any, document: Any) -> Any:
    """`previous` when the patch kept the schema_version, so only what it
    changed needs validating; else None (validate everything)."""
    version = previous.get("schema_version") if isinstance(previous, dict) else None
    if isinstance(version, str) and isinstance(document, dict) and document.get("schema_version") == version:
        return previous
    return None


def changed_pointers(patch: list) -> list[str]:
    """Where a patch that applied changed the document: the pointers it
    wrote, an add, remove, move or copy inside an array counting as a
    change of the whole array (its elements shift), none under another."""
    found = set()
    for operation in patch:
        name = operation["op"]
        if name == "test":
            continue
        for member in ("path", "from") if name == "move" else ("path",):
            pointer = operation[member]
            if name != "replace" and _ARRAY_STEP.search(pointer):
                pointer = pointer[: pointer.rfind("/")]
            found.add(pointer)
    kept: list[str] = []
    for pointer in sorted(found, key=len):
        if not any(other == "" or pointer.startswith(other + "/") for other in kept):
            kept.append(pointer)
    return sorted(kept)


def create(cache: DocumentCache, doc_id: str, doc_text: str, schema_of: SchemaLookup, validation_cache: dict) -> Written:
    """Check and hash a new document (JSON text) and propose it to `cache`
    as version 1, so that its first patch finds it there."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            tree, piece = pieces.from_text(doc_text)
            canonical_text, _ = pieces.join(piece)
        except canonical.NumberOutOfRange:
            canonical.refuse_out_of_range(parse_json(doc_text))
            raise
        doc_hash = canonical.hash_text(canonical_text)
        checked = check(tree, schema_of, validation_cache, jsonb_numbers=True, doc_hash=doc_hash)
        if checked.sqlstate:
            return Written(sqlstate=checked.sqlstate, message=checked.message, detail=checked.detail)
        cache.propose(doc_id, State(1, doc_hash, tree, piece, len(doc_text)))
        return Written(doc_hash=doc_hash)
    finally:
        if collecting:
            gc.enable()


class Server:
    """What the PL/Python functions of the write path share in a backend:
    the document cache (kept in GD, so it outlives their recompilation),
    the store it reads from and the schema registry, all through `plpy`."""

    def __init__(self, plpy: Any, GD: dict) -> None:
        self.plpy = plpy
        self.GD = GD
        self.text_plan = plpy.prepare(
            "select d.doc_json::text as t from odl.odl_documents as d"
            " where d.doc_id = $1 and d.version = $2 and d.xmin::text = $3",
            ["text", "integer", "text"],
        )
        self.history_plan = plpy.prepare(
            "select v.xmin::text as xmin, v.doc_hash, array("
            " select p.patch_json::text from odl.odl_patches as p"
            " where p.tenant_id = v.tenant_id and p.doc_id = v.doc_id and p.to_version > $2 and p.to_version <= $3"
            " order by p.to_version) as patches"
            " from odl.odl_document_versions as v where v.doc_id = $1 and v.version = $2",
            ["text", "integer", "integer"],
        )
        # One query a write: the hash of the schema (validators are cached
        # by it) and the cache's budget, a setting a DBA may change.
        self.lookup_plan = plpy.prepare(
            "select (select s.content_hash from odl.json_schemas as s where s.version = $1) as content_hash,"
            " coalesce(nullif(current_setting('odl.document_cache_mb', true), ''), '256')::integer as mb",
            ["text"],
        )
        self.schema_plan = plpy.prepare("select schema::text as s from odl.json_schemas where version = $1", ["text"])
        self.limits_plan = plpy.prepare("select odl.limit_values()::text as l")
        guards.install(plpy)

    def limits(self) -> Limits:
        """The limits now (a DBA may change them at any time)."""
        return Limits(json.loads(self.plpy.execute(self.limits_plan)[0]["l"]))

    @property
    def cache(self) -> DocumentCache:
        cache = self.GD.get("odl_document_cache")
        if not isinstance(cache, DocumentCache):  # new, or made by a module since replaced
            cache = self.GD["odl_document_cache"] = DocumentCache(256 * 1048576)
        return cache

    @property
    def validation_cache(self) -> dict:
        return self.GD.setdefault("odl_validation", {})

    def text(self, doc_id: str, version: int, xmin: str) -> str | None:
        rows = self.plpy.execute(self.text_plan, [doc_id, version, xmin])
        return rows[0]["t"] if rows else None

    def history(self, doc_id: str, version: int, upto: int) -> tuple[str, str, list[str]] | None:
        rows = self.plpy.execute(self.history_plan, [doc_id, version, upto])
        return (rows[0]["xmin"], rows[0]["doc_hash"], rows[0]["patches"]) if rows else None

    def schema_of(self, schema_version: str) -> Any:
        row = self.plpy.execute(self.lookup_plan, [schema_version])[0]
        self.cache.budget_bytes = row["mb"] * 1048576  # applies from the next state kept
        key = row["content_hash"]
        if key is None:
            return None
        schemas = self.GD.setdefault("odl_schemas", {})
        if key not in schemas:
            schemas[key] = parse_json(self.plpy.execute(self.schema_plan, [schema_version])[0]["s"])
        return schemas[key]
$odl_source$);

-- sql/040_documents_api/engine.sql as released in @v0.2.0
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

-- No PL/Python function takes or returns jsonb through the jsonb_plpython3u
-- transform: its recursion has no stack check, and a 14,000-deep array
-- crashes the server. Without a transform PL/Python receives a jsonb
-- argument as its text (jsonb_out, iterative) and parses a returned text
-- into jsonb (jsonb_in, which checks its stack); Python parses the text
-- itself, within the limits its callers checked.

-- The write path of change requests (odl.propose_patch): the document and
-- the patch as text.
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
as $$
try:
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, None, error.sqlstate, error.args[0], None, None)
documents, guards, server = SD["documents"], SD["guards"], SD["server"]


def write():
    doc = documents.parse_json(doc_text)
    limits = server.limits()
    if patch is None:
        return documents.check(doc, server.schema_of, server.validation_cache, jsonb_numbers=True)
    limits.check_text(patch, "patch_bytes" if max_operations is not None else "document_bytes", "the patch")
    operations = documents.parse_json(patch)
    documents.canonical.refuse_out_of_range(operations, patch)
    return documents.change(
        doc, operations, server.schema_of, server.validation_cache, max_operations, jsonb_numbers=True, limits=limits,
    )


outcome = guards.attempt(plpy, documents.Outcome, write)
if outcome.sqlstate:
    return None, None, None, outcome.sqlstate, outcome.message, outcome.detail, None
document = None
if outcome.text is None and outcome.document is not None:
    document = documents.pieces.storage_text(outcome.document)
inverse = None if outcome.inverse is None else documents.pieces.storage_text(outcome.inverse)
return document, inverse, outcome.doc_hash, None, None, None, outcome.text
$$;

revoke all on function odl.document_write(text, jsonb, integer) from public;
comment on function odl.document_write(text, jsonb, integer) is
'Applies a patch (or none) and validates and hashes the result; failures come back as data. '
'The result comes back as document_text when JSON text can carry it exactly, else as document';

-- The pure engine behind odl_jsonpatch_apply and odl_jsonpatch_inverse.
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
as $$
try:
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        SD["limits"] = plpy.prepare("select odl.limit_values()::text as l")
        guards.install(plpy)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, error.sqlstate, error.args[0], None)
documents, guards = SD["documents"], SD["guards"]


def run():
    limits = guards.Limits(documents.json.loads(plpy.execute(SD["limits"])[0]["l"]))
    return documents.engine_patch(doc, patch, limits, max_operations)


done = guards.attempt(plpy, lambda **failure: (None, None, documents.Outcome(**failure)), run)
return done[0], done[1], done[2].sqlstate, done[2].message, done[2].detail
$$;

revoke all on function odl.document_patch(jsonb, jsonb, integer) from public;
comment on function odl.document_patch(jsonb, jsonb, integer) is
'Applies a patch to a document (both as the text PL/Python receives for jsonb) within the limits; failures come '
'back as data';

-- Rebuilds a past version (odl.document_at). The return type changed after
-- @v0.1.0, which create or replace cannot do.
drop function if exists odl.document_replay(jsonb, jsonb);
create function odl.document_replay(
    doc jsonb,
    patches jsonb,
    out document jsonb,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "documents" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["guards"] = guards
        guards.install(plpy)
        SD["documents"] = documents
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, error.sqlstate, error.args[0], None)
documents, guards = SD["documents"], SD["guards"]
done = guards.attempt(plpy, documents.Outcome, lambda: documents.Outcome(text=documents.replay_text(doc, patches)))
return done.text, done.sqlstate, done.message, done.detail
$$;

revoke all on function odl.document_replay(jsonb, jsonb) from public;
comment on function odl.document_replay(jsonb, jsonb) is
'A document after each stored patch of a JSON array of patches, in order; failures (a cancel) come back as data';

-- The write path of odl.write_patch(): the backend keeps the documents it
-- read or wrote as pieces of text (odl_db.documents.DocumentCache), so a
-- patch costs O(patch) in Python; parsing the new text into jsonb is left
-- to C. The document and the patch come in as text, never through the
-- jsonb transform, whose recursion has no stack check.
create or replace function odl.patch_cached_document(
    doc_id text,
    version integer,
    doc_hash text,
    row_xmin text,
    patch_text text,
    max_operations integer,
    out document_text text,
    out doc_hash text,
    out inverse_text text,
    out changed_pointers text[],
    out patch_hash text,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "server" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["documents"] = documents
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, None, None, None, None, error.sqlstate, error.args[0], None)
server = SD["server"]
outcome = SD["guards"].attempt(
    plpy, SD["documents"].Written, SD["documents"].write,
    server.cache, server, doc_id, version, doc_hash, row_xmin, patch_text, server.schema_of,
    server.validation_cache, max_operations, server.limits(),
)
return (
    outcome.text, outcome.doc_hash, outcome.inverse_text, outcome.changed, outcome.patch_hash,
    outcome.sqlstate, outcome.message, outcome.detail,
)
$$;

revoke all on function odl.patch_cached_document(text, integer, text, text, text, integer) from public;
comment on function odl.patch_cached_document(text, integer, text, text, text, integer) is
'Applies a patch (JSON text) to the stored version of a document, held by this backend as pieces of text, and '
'validates and hashes the result: the new document and inverse as JSON text, the pointers changed, the patch''s '
'hash; failures come back as data. The version, hash and xmin name the row the caller locked';

create or replace function odl.check_new_document(
    doc_id text,
    doc_text text,
    out doc_hash text,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "server" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import documents, guards
        SD["documents"] = documents
        SD["guards"] = guards
        SD["server"] = documents.Server(plpy, GD)
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return (None, error.sqlstate, error.args[0], None)
server = SD["server"]
outcome = SD["guards"].attempt(
    plpy, SD["documents"].Written, SD["documents"].create,
    server.cache, doc_id, doc_text, server.schema_of, server.validation_cache,
)
return outcome.doc_hash, outcome.sqlstate, outcome.message, outcome.detail
$$;

revoke all on function odl.check_new_document(text, text) from public;
comment on function odl.check_new_document(text, text) is
'Validates and hashes a new document (JSON text) and holds it in this backend''s document cache as version 1 of '
'doc_id, for odl.keep_cached_document() to confirm once stored; failures come back as data';

create or replace function odl.keep_cached_document(doc_id text, version integer, doc_hash text, row_xmin text)
returns boolean
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
cache = GD.get("odl_document_cache")
return cache is not None and cache.confirm(doc_id, version, doc_hash, row_xmin)
$$;

revoke all on function odl.keep_cached_document(text, integer, text, text) from public;
comment on function odl.keep_cached_document(text, integer, text, text) is
'Confirms the state odl.patch_cached_document() proposed, once the writer stored it in the row with that xmin; '
'false when there is none to confirm';

create or replace function odl.document_cache_stats()
returns jsonb
language plpython3u
volatile
parallel unsafe
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
import json

cache = GD.get("odl_document_cache")
stats = cache.stats() if cache is not None and hasattr(cache, "stats") else {"documents": 0, "states": 0, "chars": 0}
return json.dumps(stats)
$$;

revoke all on function odl.document_cache_stats() from public;
comment on function odl.document_cache_stats() is
'What this backend''s document cache holds: documents, states and characters of document text (odl_owner)';
-- sql/040_documents_api/json_schemas.sql as released in @v0.2.0
-- JSON Schema (draft 2020-12) validation: the schema registry's writer, and
-- pg_jsonschema's SQL API with its names and signatures. pg_jsonschema is
-- installed in public by default, so these live there too and SQL written
-- for it runs unchanged. Both run jsonschema-rs, the Rust engine
-- pg_jsonschema is built on.
--
-- A schema a caller writes is untrusted: its size (schema_bytes, ODL05) and
-- the instance's (document_bytes, ODL01) are checked before either reaches
-- Python, their nesting (nesting_depth, ODL02) as soon as they are parsed,
-- and the validation runs in a child process of the backend
-- (odl_db.sandbox), which is killed when statement_timeout or
-- pg_cancel_backend() interrupts the call: Rust code cannot be interrupted,
-- and a small schema can keep it busy for hours. Only odl_app and odl_admin
-- may validate with schemas of their own.
--
-- Schemas and instances reach Python as JSON text, never through the jsonb
-- transform: that recurses in C without a stack check, and a deeply nested
-- value would crash the server.

-- v0.1.0's validation in the backend, replaced by untrusted_schema_call().
drop function if exists odl.json_schema_errors(json, json);

create or replace function odl.sandbox_call(
    op text,
    schema text,
    instance text,
    max_depth integer,
    out found text[],
    out too_deep text,
    out depth integer,
    out sqlstate text,
    out message text,
    out detail text
)
language plpython3u
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
if "sandbox" not in SD:
    plpy.execute("select odl.python_boot()")
    from odl_db import guards, sandbox
    guards.install(plpy)
    SD["sandbox"], SD["guards"] = sandbox, guards
sandbox, guards = SD["sandbox"], SD["guards"]
# One child per backend, whichever function asks; a reloaded package starts
# a child that runs the new code.
child = GD.get("odl_sandbox")
if type(child) is not sandbox.Sandbox:
    if child is not None:
        child.stop()
    child = GD["odl_sandbox"] = sandbox.Sandbox(guards.check_interrupts)
request = (op, schema.encode("utf-8", "surrogatepass"))
if op == "errors":
    request += (instance.encode("utf-8", "surrogatepass"),)
try:
    kind, *reply = child.call(request + (max_depth,))
except sandbox.SandboxFailed as died:
    return None, None, None, "53200", "the validation ended abnormally (out of memory?)", str(died)
except OSError as error:  # fork or pipe refused: no processes or descriptors left
    return None, None, None, "53200", "cannot start the validating process", error.strerror
except plpy.SPIError as error:  # the cancel that check_interrupts() raised
    return None, None, None, sandbox.spi_sqlstate(error), str(error.args[0] if error.args else error), None
if kind == "ok":
    return reply[0], None, None, None, None, None
if kind == "too_deep":
    return None, reply[0], reply[1], None, None, None
if kind == "invalid_schema":
    return None, None, None, "22023", "invalid JSON Schema", reply[0]
if kind == "invalid":
    return None, None, None, "22023", "cannot validate the instance", reply[0]
return None, None, None, "53200", "out of memory while validating", reply[0]
$$;

revoke all on function odl.sandbox_call(text, text, text, integer) from public;
comment on function odl.sandbox_call(text, text, text, integer) is
'Runs op (errors: the validation errors of the instance, "pointer: message"; problems: why the schema breaks the '
'draft 2020-12 meta-schema) for a caller''s schema in the backend''s validating process (odl_db.sandbox), which '
'statement_timeout and pg_cancel_backend() stop; a value nested past max_depth comes back as (too_deep, depth), '
'a failure as (sqlstate, message, detail)';

create or replace function odl.untrusted_schema_call(op text, schema json, instance json)
returns text[]
language plpgsql
immutable
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    lim record;
    checked record;
begin
    select
        max(l.value) filter (where l.name = 'schema_bytes') as schema_bytes,
        max(l.value) filter (where l.name = 'document_bytes') as document_bytes,
        max(l.value) filter (where l.name = 'nesting_depth') as nesting_depth
    into lim
    from odl.limits as l
    where l.name in ('schema_bytes', 'document_bytes', 'nesting_depth');
    -- Sizes first: the text is not even handed to Python when too large.
    if octet_length(schema::text) > lim.schema_bytes then
        perform odl.check_limit('schema_bytes', octet_length(schema::text), 'the schema');
    end if;
    if octet_length(instance::text) > lim.document_bytes then
        perform odl.check_limit('document_bytes', octet_length(instance::text), 'the instance');
    end if;
    checked := odl.sandbox_call(op, schema::text, instance::text, lim.nesting_depth::integer);
    if checked.too_deep is not null then
        perform odl.check_limit('nesting_depth', checked.depth, checked.too_deep);
        -- Deeper than the parser reads (1024), and a DBA allowed that.
        raise exception using
            errcode = '54001',
            message = format('%s nests deeper than the JSON parser reads', checked.too_deep),
            detail = format('%s levels', checked.depth);
    end if;
    if checked.sqlstate is not null then
        perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);
    end if;
    return checked.found;
end
$$;

revoke all on function odl.untrusted_schema_call(text, json, json) from public;
comment on function odl.untrusted_schema_call(text, json, json) is
'odl.sandbox_call() for a caller''s schema and instance, once their sizes pass schema_bytes (ODL05) and '
'document_bytes (ODL01); raises what it reports: 22023 for an unusable schema, ODL02 past nesting_depth, 57014';

create or replace function odl.json_schema_problems(schema jsonb)
returns text[]
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.untrusted_schema_call('problems', schema::json, null)
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
    failing bigint;
    failures text;
begin
    if cardinality(problems) > 0 then
        raise exception using
            errcode = '22023',
            message = format('schema for version %s is not a valid JSON Schema', register_json_schema.version),
            detail = array_to_string(problems, E'\n');
    end if;
    -- Stored documents were judged by the schema of their version, and
    -- patches re-check only what they touch: a version in use changes only
    -- to a schema that every current document of it still passes.
    if exists (
        select from odl.json_schemas as s
        where s.version = register_json_schema.version
            and s.content_hash <> odl.odl_content_hash(register_json_schema.schema)
    ) then
        select
            count(*),
            string_agg(d.doc_id || ': ' || array_to_string(e.errors[:3], '; '), E'\n' order by d.doc_id)
        into failing, failures
        from odl.odl_documents as d
        cross join lateral public.jsonschema_validation_errors(
            register_json_schema.schema::json, d.doc_json::json
        ) as e (errors)
        where d.schema_version = register_json_schema.version and cardinality(e.errors) > 0;
        if failing > 0 then
            raise exception using
                errcode = '22023',
                message = format(
                    'schema version %s is in use by %s documents the changed schema refuses',
                    register_json_schema.version, failing
                ),
                detail = failures,
                hint = 'Register the changed schema as a new version.';
        end if;
    end if;
    -- Keyed by version: a schema may change its $id.
    insert into odl.json_schemas as s (schema_id, version, schema, content_hash)
    values (
        register_json_schema.schema ->> '$id', register_json_schema.version,
        register_json_schema.schema, odl.odl_content_hash(register_json_schema.schema)
    )
    on conflict on constraint json_schemas_version_key do update
    set schema_id = excluded.schema_id, schema = excluded.schema, content_hash = excluded.content_hash,
    registered_at = now()
    where s.content_hash <> excluded.content_hash;
end
$$;

revoke all on procedure odl.register_json_schema(text, jsonb) from public; -- noqa: LT01
comment on procedure odl.register_json_schema(text, jsonb) is -- noqa: LT01
'Registers (or updates) the JSON Schema that documents of a schema_version are validated against';

create or replace function public.jsonschema_validation_errors(schema json, instance json)
returns text[]
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select odl.untrusted_schema_call('errors', schema, instance)
$$;

alter function public.jsonschema_validation_errors(json, json) owner to odl_owner;
revoke all on function public.jsonschema_validation_errors(json, json) from public;
grant execute on function public.jsonschema_validation_errors(json, json) to odl_app, odl_admin;
comment on function public.jsonschema_validation_errors(json, json) is
'pg_jsonschema API: every way the instance breaks the draft 2020-12 schema, as "pointer: message"; format is an '
'annotation unless the schema opts into assertion; remote references are refused (22023), never fetched; '
'cancellable, within schema_bytes, document_bytes and nesting_depth (odl_app, odl_admin)';

create or replace function public.json_matches_schema(schema json, instance json)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('errors', schema, instance)) = 0
$$;

alter function public.json_matches_schema(json, json) owner to odl_owner;
revoke all on function public.json_matches_schema(json, json) from public;
grant execute on function public.json_matches_schema(json, json) to odl_app, odl_admin;
comment on function public.json_matches_schema(json, json) is
'pg_jsonschema API: whether the instance is valid against the draft 2020-12 schema (odl_app, odl_admin)';

create or replace function public.jsonb_matches_schema(schema json, instance jsonb)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('errors', schema, instance::json)) = 0
$$;

alter function public.jsonb_matches_schema(json, jsonb) owner to odl_owner;
revoke all on function public.jsonb_matches_schema(json, jsonb) from public;
grant execute on function public.jsonb_matches_schema(json, jsonb) to odl_app, odl_admin;
comment on function public.jsonb_matches_schema(json, jsonb) is
'pg_jsonschema API: whether the jsonb instance is valid against the draft 2020-12 schema (odl_app, odl_admin)';

create or replace function public.jsonschema_is_valid(schema json)
returns boolean
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select cardinality(odl.untrusted_schema_call('problems', schema, null)) = 0
$$;

alter function public.jsonschema_is_valid(json) owner to odl_owner;
revoke all on function public.jsonschema_is_valid(json) from public;
grant execute on function public.jsonschema_is_valid(json) to odl_app, odl_admin;
comment on function public.jsonschema_is_valid(json) is
'pg_jsonschema API: whether the schema is a valid draft 2020-12 JSON Schema (odl_app, odl_admin)';
-- sql/040_documents_api/odl_create_document.sql as released in @v0.2.0
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
    new_xmin text;
    doc_text text := doc::text;
begin
    if doc is null then
        raise exception using errcode = '22004', message = 'doc must not be null';
    end if;
    if not exists (select from odl.projects as p where p.project_id = odl_create_document.project_id) then
        raise exception using
            errcode = 'ODD02',
            message = 'project does not exist',
            detail = format('project_id %s', quote_nullable(odl_create_document.project_id));
    end if;

    -- The document first, so that a malformed one (a member that is no
    -- section, say) is named as such rather than as a lack of rights.
    -- Its size and depth before any work that grows with them.
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the document');
    checked := odl.check_new_document(new_id, doc_text);
    perform odl.raise_failure(checked.sqlstate, checked.message, checked.detail);

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

    insert into odl.odl_documents (
        tenant_id, doc_id, project_id, schema_version, doc_json, doc_hash, version, created_by, updated_by
    )
    values (
        context.tenant_id, new_id, odl_create_document.project_id, doc ->> 'schema_version',
        doc, checked.doc_hash, 1, context.user_id, context.user_id
    )
    returning xmin::text into new_xmin;
    -- The first patch finds the document in this backend's cache.
    perform odl.keep_cached_document(new_id, 1, checked.doc_hash, new_xmin);
    insert into odl.odl_document_versions (
        tenant_id, doc_id, version, doc_hash, doc_json, created_by, changed_pointers
    )
    values (context.tenant_id, new_id, 1, checked.doc_hash, doc, context.user_id, '{""}');
    perform odl.run_projectors(context.tenant_id, new_id, odl_create_document.project_id, 1, doc, '{""}');
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
'needs W on meta and R on every section the document holds. Held to the limits document_bytes (ODL01) and '
'nesting_depth (ODL02); a number beyond a double is refused (22003); a NULL doc is 22004';
-- sql/040_documents_api/odl_validate_document.sql as released in @v0.2.0
-- Checks a document without storing it: the JSON Schema of its
-- schema_version, then the integrity rules, with their warnings.
--
-- The document is held to the limits document_bytes and nesting_depth
-- first, then reaches PL/Python as text: the jsonb transform recurses in C
-- without a stack check, and a deeply nested document would crash the
-- server.

create or replace function odl.document_findings(doc_text text)
returns table (pointer text, severity text, message text)
language plpython3u
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
try:
    if "modules" not in SD:
        plpy.execute("select odl.python_boot()")
        from odl_db import canonical, documents, guards, integrity, validation
        # The writer's schema registry, so that both share its caches.
        SD["server"] = documents.Server(plpy, GD)
        SD["modules"] = canonical, documents, guards, integrity, validation
except plpy.SPIError as error:  # a cancel while booting comes back as data
    return [(error.sqlstate, "failure", error.args[0])]
canonical, documents, guards, integrity, validation = SD["modules"]
server = SD["server"]


def findings():
    # Numbers as the writer reads them, so that the caches serve both.
    document = documents.parse_json(doc_text)
    version = document.get("schema_version") if isinstance(document, dict) else None
    schema = server.schema_of(version) if isinstance(version, str) else None
    found = []
    if schema is not None:
        found = [(p, "error", m) for p, m in validation.schema_errors(document, schema, server.validation_cache)]
    found += integrity.findings(document, supported_versions=(version,) if schema is not None else ())
    # A write would refuse a number beyond a double (22003).
    number = canonical.out_of_range(document, doc_text)
    if number is not None:
        found.append((number.pointer, "error", "number is out of range: JSON numbers must be finite doubles"))
    return found


# A failure comes back as one row of severity 'failure': its SQLSTATE and
# its message, for odl_validate_document() to raise.
return guards.attempt(plpy, lambda sqlstate, message, detail: [(sqlstate, "failure", message)], findings)
$$;

revoke all on function odl.document_findings(text) from public;
comment on function odl.document_findings(text) is
'The findings of odl_validate_document() for a document given as JSON text; a failure comes back as one row '
'(sqlstate, ''failure'', message)';

create or replace function odl.odl_validate_document(doc jsonb)
returns table (pointer text, severity text, message text)
language plpgsql
stable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    doc_text text := doc::text;
    finding record;
begin
    perform odl.check_json(doc, doc_text, 'document_bytes', 'the document');
    for finding in select f.pointer, f.severity, f.message from odl.document_findings(doc_text) as f loop
        if finding.severity = 'failure' then
            perform odl.raise_failure(finding.pointer, finding.message, null);
        end if;
        pointer := finding.pointer;
        severity := finding.severity;
        message := finding.message;
        return next;
    end loop;
end
$$;

revoke all on function odl.odl_validate_document(jsonb) from public;
grant execute on function odl.odl_validate_document(jsonb) to odl_app, odl_analyst;
comment on function odl.odl_validate_document(jsonb) is
'Checks an ODL-SD document without storing it, one row per finding: severity error (the JSON Schema of its '
'schema_version, the integrity rules, or a number beyond a double; a write would be refused) or warning (a '
'reference the spec leaves open). Held to the limits document_bytes (ODL01) and nesting_depth (ODL02); NULL gives '
'no rows';
-- sql/040_documents_api/odl_apply_patch.sql as released in @v0.2.0
-- Every write of a document goes through odl.write_patch(): it locks the
-- row, checks the expected version, has the backend's cached copy of the
-- document patched, validated and hashed (odl.patch_cached_document), then
-- updates the document, appends the version and the patch, runs the
-- projectors and appends to the audit ledger.

-- ODV01 in one place: its detail is a JSON object a program reads without
-- parsing prose.
create or replace function odl.raise_version_conflict(doc_id text, expected_version integer, current_version integer)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    raise exception using
        errcode = 'ODV01',
        message = 'version conflict',
        detail = json_build_object(
            'doc_id', raise_version_conflict.doc_id,
            'expected_version', raise_version_conflict.expected_version,
            'current_version', raise_version_conflict.current_version
        )::text,
        hint = 'Read the current version, rebase the patch on it and retry.';
end
$$;

revoke all on function odl.raise_version_conflict(text, integer, integer) from public;
comment on function odl.raise_version_conflict(text, integer, integer) is
'Raises ODV01 with the detail {"doc_id": ..., "expected_version": ..., "current_version": ...} (JSON)';

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
    inverse jsonb;
    new_version integer;
    new_xmin text;
    patch_text text := patch::text;
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

    -- Not the document itself: the engine has it cached, or fetches it.
    if dry_run then
        select d.tenant_id, d.project_id, d.version, d.doc_hash, d.xmin::text as row_xmin into current_doc
        from odl.odl_documents as d where d.doc_id = write_patch.doc_id;
    else
        select d.tenant_id, d.project_id, d.version, d.doc_hash, d.xmin::text as row_xmin into current_doc
        from odl.odl_documents as d where d.doc_id = write_patch.doc_id for update;
    end if;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', write_patch.doc_id);
    end if;
    if current_doc.version <> expected_version then
        perform odl.raise_version_conflict(write_patch.doc_id, expected_version, current_doc.version);
    end if;

    -- The exact size of the patch, now that its text is at hand (a revert's
    -- patch, built from history, is held to document_bytes instead).
    perform odl.check_limit(
        case when max_operations is null then 'document_bytes' else 'patch_bytes' end, octet_length(patch_text),
        'the patch'
    );
    outcome := odl.patch_cached_document(
        write_patch.doc_id, current_doc.version, current_doc.doc_hash, current_doc.row_xmin, patch_text,
        max_operations
    );
    -- A dry run's read found the row replaced: name the version now current.
    if outcome.sqlstate = 'ODV01' then
        perform odl.raise_version_conflict(
            write_patch.doc_id, expected_version,
            (select d.version from odl.odl_documents as d where d.doc_id = write_patch.doc_id)
        );
    end if;
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    new_doc := outcome.document_text::jsonb;
    inverse := outcome.inverse_text::jsonb;
    new_version := current_doc.version + 1;

    if dry_run then
        return query select new_version, outcome.doc_hash, inverse, new_doc;
        return;
    end if;

    update odl.odl_documents as d
    set doc_json = new_doc,
        doc_hash = outcome.doc_hash,
        schema_version = new_doc ->> 'schema_version',
        version = new_version,
        valid_from = now(),
        updated_by = context.user_id
    where d.tenant_id = current_doc.tenant_id and d.doc_id = write_patch.doc_id
    returning d.xmin::text into new_xmin;
    perform odl.keep_cached_document(write_patch.doc_id, new_version, outcome.doc_hash, new_xmin);

    insert into odl.odl_document_versions (
        tenant_id, doc_id, version, doc_hash, doc_json, created_by, changed_pointers
    )
    values (
        current_doc.tenant_id, write_patch.doc_id, new_version, outcome.doc_hash,
        case when new_version % snapshot_interval = 0 then new_doc end,
        context.user_id, outcome.changed_pointers
    );
    insert into odl.odl_patches (
        tenant_id, doc_id, to_version, from_version, patch_json, inverse_patch,
        evidence_uris, intent, tool_version, created_by
    )
    values (
        current_doc.tenant_id, write_patch.doc_id, new_version, current_doc.version, patch,
        inverse, to_jsonb(coalesce(evidence_uris, '{}')), intent, tool_version,
        context.user_id
    );
    perform odl.run_projectors(
        current_doc.tenant_id, write_patch.doc_id, current_doc.project_id, new_version, new_doc,
        outcome.changed_pointers
    );
    -- The ledger names the patch by its hash; odl_patches keeps the patch.
    perform odl.audit_append(
        'patch.applied',
        jsonb_build_object(
            'from_version', current_doc.version, 'to_version', new_version, 'doc_hash', outcome.doc_hash,
            'patch_hash', outcome.patch_hash, 'operations', jsonb_array_length(patch), 'intent', intent
        ),
        current_doc.project_id, write_patch.doc_id
    );

    return query select new_version, outcome.doc_hash, inverse, null::jsonb;
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
    -- The limits first: nothing below may see a patch nested too deeply.
    -- A revert (max_operations null) sends a patch built from history,
    -- held to document_bytes instead of patch_bytes.
    perform odl.check_json(
        patch, null, case when max_operations is null then 'document_bytes' else 'patch_bytes' end, 'the patch', 2
    );
    -- RFC 6902 allows an empty patch (odl_jsonpatch_apply takes one); a new
    -- version, or a change request, must change something.
    if jsonb_typeof(patch) = 'array' and jsonb_array_length(patch) = 0 then
        raise exception using
            errcode = 'ODP01',
            message = 'a patch must have at least one operation';
    end if;
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
'Applies an RFC 6902 patch of 1 to 100 operations (an empty patch, valid in RFC 6902, is refused with ODP01: '
'a version must change something) atomically to the current version and returns the new '
'version, its hash and the exact inverse (outcome applied); or, when the user may only propose, a section '
'needs approval, the user is an AI agent or propose is true, holds it as a change request (outcome proposed, '
'change_id). A dry run returns the would-be document, redacted as odl_get_document() does, and writes nothing';
-- sql/040_documents_api/odl_get_document.sql as released in @v0.2.0
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
    replayed record;
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
        replayed := odl.document_replay(
            current_doc.doc_json,
            (
                select coalesce(jsonb_agg(p.inverse_patch order by p.to_version desc), '[]')
                from odl.odl_patches as p
                -- A patch of tests only has nothing to undo.
                where p.doc_id = document_at.doc_id and p.to_version > wanted
                    and jsonb_array_length(p.inverse_patch) > 0
            )
        );
    elsif snapshot.version = wanted then
        return snapshot.doc_json;
    else
        replayed := odl.document_replay(
            snapshot.doc_json,
            (
                select coalesce(jsonb_agg(p.patch_json order by p.to_version), '[]')
                from odl.odl_patches as p
                where p.doc_id = document_at.doc_id and p.to_version > snapshot.version and p.to_version <= wanted
            )
        );
    end if;
    -- A cancel (statement_timeout) comes back as data, raised cleanly here.
    perform odl.raise_failure(replayed.sqlstate, replayed.message, replayed.detail);
    return replayed.document;
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
-- sql/040_documents_api/odl_document_heads.sql as released in @v0.2.0
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
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- A patch's intent and evidence describe what it changed: shown only to a
-- reader who may read all of that (every path and from of the patch, with
-- all below them), by the rules of odl_get_document(). (PL/pgSQL: the
-- redaction functions it calls are deployed after it.)
begin
    return query
    with doc as (
        select d.doc_id, p.node_id
        from odl.odl_documents as d
        inner join odl.projects as p on d.tenant_id = p.tenant_id and d.project_id = p.project_id
        where d.doc_id = odl_document_history.doc_id and odl.readable_project(d.project_id)
    )

    select
        v.version,
        v.doc_hash,
        v.created_at,
        v.created_by::text,
        case when x.shown then p.intent end,
        p.tool_version,
        case when x.shown then p.evidence_uris end,
        jsonb_array_length(p.patch_json)
    from doc
    cross join lateral odl.reader_scope(doc.node_id) as s
    inner join odl.odl_document_versions as v on v.doc_id = doc.doc_id
    left join odl.odl_patches as p
        on v.tenant_id = p.tenant_id and v.doc_id = p.doc_id and v.version = p.to_version
    cross join lateral (
        select
            p.patch_json is null or s.reads_all
            or odl.pointers_readable(odl.patch_pointers(p.patch_json), s.readable_keys, s.hidden_parts) as shown
    ) as x
    order by v.version;
end
$$;

revoke all on function odl.odl_document_history(text) from public;
grant execute on function odl.odl_document_history(text) to odl_app, odl_analyst;
comment on function odl.odl_document_history(text) is
'Every version of a document: its hash, author and time, and the intent, tool, evidence and size of the patch '
'that made it; intent and evidence are null unless the caller may read all that the patch touched';
-- sql/040_documents_api/odl_revert_document.sql as released in @v0.2.0
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
    -- A null target would read as the current version and record a revert
    -- to it; a null expected version would skip the version check.
    if doc_id is null or to_version is null or expected_version is null then
        raise exception using
            errcode = '22004',
            message = 'doc_id, to_version and expected_version are required',
            detail = format(
                'doc_id %s, to_version %s, expected_version %s', quote_nullable(doc_id),
                quote_nullable(to_version), quote_nullable(expected_version)
            );
    end if;
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
-- sql/040_documents_api/change_requests.sql as released in @v0.2.0
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
        perform odl.raise_version_conflict(propose_patch.doc_id, expected_version, current_doc.version);
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
    -- add, remove, move or copy inside an array shifts its elements, so it
    -- counts as a change of the whole array.
    with changed as (
        select p.to_version, case
            when x.op ->> 'op' in ('add', 'remove', 'move', 'copy') and x.pointer ~ '/([0-9]+|-)$'
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

    -- approval_id counts the tenant's own approvals: the table's identity
    -- sequence is shared by every tenant, so its numbers would tell one
    -- tenant how many approvals the others make. The lock orders the
    -- tenant's approvers between reading the largest id and inserting.
    perform pg_advisory_xact_lock(hashtextextended('odl.approvals ' || context.tenant_id, 0));
    insert into odl.approvals (
        tenant_id, approval_id, change_id, project_id, section, outcome, approver_id, approver_role, comment
    )
    overriding system value
    select context.tenant_id, last.approval_id + s.n, change.change_id, change.project_id, s.section, outcome,
        context.user_id, approver_role, odl_approve_change.comment
    from unnest(change.sections) with ordinality as s (section, n)
    cross join (
        select coalesce(max(a.approval_id), 0) as approval_id
        from odl.approvals as a
        where a.tenant_id = context.tenant_id
    ) as last;

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

-- What a reader may see of a change rather than of a document: a patch's
-- operations, and the intent and evidence that come with it. The same
-- rules apply (a section needs R and the clearance for its classification;
-- parts classified above the clearance are removed), decided once per node
-- by odl.reader_scope() and then per pointer, without reading the rights
-- again.

create or replace function odl.reader_scope(
    node_id text,
    out readable_keys text[],
    out hidden_parts text[],
    out reads_all boolean
)
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    context record := odl.require_context();
    clearance integer;
begin
    select
        coalesce(array_agg(k.key order by k.key) filter (where strpos(r.rights, 'R') > 0 and r.clearance >= l.rank), '{}'),
        coalesce(max(r.clearance), 0),
        coalesce(bool_and(strpos(r.rights, 'R') > 0 and r.clearance >= l.rank), false)
    into readable_keys, clearance, reads_all
    from odl.user_rights(context.user_id, reader_scope.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    inner join odl.rbac_section_keys as k on r.section = k.section;
    hidden_parts := array(
        select c.pointer
        from odl.rbac_classified_parts as c
        inner join odl.classification_levels as l on c.classification = l.level
        where l.rank > clearance
        order by c.pointer
    );
    reads_all := reads_all and cardinality(hidden_parts) = 0;
end
$$;

revoke all on function odl.reader_scope(text) from public;
comment on function odl.reader_scope(text) is
'What the context''s user may read at a node: the top-level keys of the sections they read (R and the clearance '
'for the classification), the pointers of the parts classified above their clearance, and whether that is all';

create or replace function odl.pointer_reach(
    pointer text,
    readable_keys text[],
    hidden_parts text[],
    out hidden_by text,
    out above text[]
)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- hidden_by: the pointer of the section (its top-level key) or classified
-- part that the pointer falls in, when the reader may not read it; above:
-- the hidden parts below the pointer, which a value written there holds.
-- The empty pointer is above every hidden part and every unreadable key.
declare
    steps text [];
    part_steps text [];
    part text;
    matches boolean;
begin
    above := '{}';
    if pointer is null then
        return;
    end if;
    steps := odl.pointer_steps(pointer);
    if cardinality(steps) > 0 and not steps[1] = any(readable_keys) then
        hidden_by := '/' || replace(replace(steps[1], '~', '~0'), '/', '~1');
        return;
    end if;
    foreach part in array hidden_parts loop
        part_steps := odl.pointer_steps(part);
        matches := true;
        for i in 1..least(cardinality(steps), cardinality(part_steps)) loop
            if part_steps[i] not in ('*', steps[i]) then
                matches := false;
                exit;
            end if;
        end loop;
        if matches and cardinality(steps) >= cardinality(part_steps) then
            hidden_by := part;
            return;
        elsif matches then
            above := above || part;
        end if;
    end loop;
end
$$;

revoke all on function odl.pointer_reach(text, text[], text[]) from public;
comment on function odl.pointer_reach(text, text[], text[]) is
'Where a JSON pointer reaches for a reader (odl.reader_scope): hidden_by names the unreadable section key or '
'classified part it falls in (null if none); above lists the hidden parts below it';

create or replace function odl.redact_patch(
    patch jsonb,
    readable_keys text[],
    hidden_parts text[],
    out shown jsonb,
    out redacted text[]
)
language plpgsql
immutable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- An operation whose path or from falls in what the reader may not read
-- is left out; a value written above a hidden part (or at the root) loses
-- that part, as a read would remove it. redacted lists the pointers of the
-- sections and parts removed; shown is null when no operation is left.
declare
    op jsonb;
    reach record;
    reach_from record;
    value jsonb;
    part text;
    trimmed jsonb;
begin
    redacted := '{}';
    if jsonb_typeof(patch) is distinct from 'array' then
        return;
    end if;
    for op in select e.value from jsonb_array_elements(patch) as e (value) loop
        reach := odl.pointer_reach(op ->> 'path', readable_keys, hidden_parts);
        reach_from := odl.pointer_reach(op ->> 'from', readable_keys, hidden_parts);
        if reach.hidden_by is not null or reach_from.hidden_by is not null then
            redacted := redacted || coalesce(reach.hidden_by, reach_from.hidden_by);
            continue;
        end if;
        if op ? 'value' then
            value := op -> 'value';
            if op ->> 'path' = '' and jsonb_typeof(value) = 'object' then
                trimmed := value - readable_keys;
                value := value - array(select k.key from jsonb_object_keys(trimmed) as k (key));
                redacted := redacted || array(
                    select '/' || replace(replace(k.key, '~', '~0'), '/', '~1')
                    from jsonb_object_keys(trimmed) as k (key)
                );
            end if;
            foreach part in array reach.above loop
                trimmed := odl.jsonb_without(
                    value, (odl.pointer_steps(part))[cardinality(odl.pointer_steps(op ->> 'path')) + 1:]
                );
                if trimmed is distinct from value then
                    value := trimmed;
                    redacted := redacted || part;
                end if;
            end loop;
            op := jsonb_set(op, '{value}', value);
        end if;
        shown := coalesce(shown, '[]') || jsonb_build_array(op);
    end loop;
    redacted := array(select distinct r.pointer from unnest(redacted) as r (pointer) order by r.pointer);
end
$$;

revoke all on function odl.redact_patch(jsonb, text[], text[]) from public;
comment on function odl.redact_patch(jsonb, text[], text[]) is
'A patch as a reader (odl.reader_scope) may see it: operations into what they may not read left out, hidden '
'parts removed from values written above them; redacted lists what was removed, shown is null if nothing is left';

create or replace function odl.pointers_readable(pointers text[], readable_keys text[], hidden_parts text[])
returns boolean
language plpgsql
stable
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    -- Readable: no pointer falls in, or lies above, anything hidden.
    return not exists (
        select
        from unnest(pointers) as p (pointer)
        cross join lateral odl.pointer_reach(p.pointer, readable_keys, hidden_parts) as r
        where r.hidden_by is not null or cardinality(r.above) > 0
            or p.pointer = '' and (
                cardinality(hidden_parts) > 0
                or exists (select from odl.rbac_section_keys as k where not k.key = any(readable_keys))
            )
    );
end
$$;

revoke all on function odl.pointers_readable(text[], text[], text[]) from public;
comment on function odl.pointers_readable(text[], text[], text[]) is
'Whether a reader (odl.reader_scope) may read everything at and below each of the pointers';

-- The result gains redacted after v0.1.0; a function's result type changes
-- only by dropping it.
-- (srcguard rework froze the unconditional drop v0.2.0 ran; a revert
-- re-runs this script after analyst_views depends on the function, so only
-- v0.1.0's result type is dropped, as the source now does.)
do $$
begin
    if exists (
        select from pg_catalog.pg_proc as p
        where p.oid = to_regprocedure('odl.odl_change_requests(text, text)')
            and not 'redacted' = any(p.proargnames)
    ) then
        drop function odl.odl_change_requests(text, text);
    end if;
end
$$;
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
    patch jsonb,
    redacted text[]
)
language sql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    -- The patch as a read would show it: operations into sections or parts
    -- the reader may not read left out, hidden parts removed from values.
    -- The intent, which describes the whole patch, only with all of it.
    with listed as (
        select c.*, p.node_id
        from odl.change_requests as c
        inner join odl.projects as p on c.tenant_id = p.tenant_id and c.project_id = p.project_id
        where (odl_change_requests.project_id is null or c.project_id = odl_change_requests.project_id)
            and (odl_change_requests.status is null or c.status = odl_change_requests.status)
            and odl.readable_project(c.project_id)
    ),

    scopes as (
        select n.node_id, s.readable_keys, s.hidden_parts
        from (select distinct l.node_id from listed as l) as n
        cross join lateral odl.reader_scope(n.node_id) as s
    )

    select
        c.change_id, c.project_id, c.kind, c.doc_id, c.base_version, c.target_phase, c.sections, c.reason,
        case when c.kind <> 'patch' or cardinality(r.redacted) = 0 then c.intent end,
        c.author_id, c.created_at, c.status, c.decided_by, c.decided_at, c.merged_version,
        r.shown, coalesce(r.redacted, '{}')
    from listed as c
    inner join scopes as s on c.node_id = s.node_id
    left join lateral odl.redact_patch(c.patch, s.readable_keys, s.hidden_parts) as r on c.kind = 'patch'
    order by c.created_at, c.change_id
$$;

revoke all on function odl.odl_change_requests(text, text) from public;
grant execute on function odl.odl_change_requests(text, text) to odl_app, odl_analyst;
comment on function odl.odl_change_requests(text, text) is
'Change requests of the projects the caller may read (of one project; pending unless status says otherwise, '
'null for all). patch shows only what the caller may read, as odl_get_document() would (operations into '
'unreadable sections or classified parts left out, classified parts removed from values); redacted lists the '
'pointers removed, and intent is null unless nothing was';
-- sql/040_documents_api/readable_documents.sql as released in @v0.2.0
-- Analysts read documents through this view, with the rules of
-- odl_get_document(): it runs as its owner under RLS (the context's
-- tenant only), lists the documents of projects where the reader holds R
-- on some section, and redacts each one for the reader. As a security
-- barrier, it filters before any condition of the reader's query runs: a
-- function of theirs in a WHERE clause never sees a row filtered out.

create or replace view odl.readable_documents
with (security_barrier)
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
-- sql/040_documents_api/odl_jsonpatch.sql as released in @v0.2.0
-- The pure engine, for tools and tests: no storage, no schema. Anyone with
-- an API role may call it, so it is held to the limits before any work:
-- the depth of the document and of the patch's values and the number of
-- operations here; the exact sizes of their texts, what the patch places
-- and copies and the size of the result in the engine (odl.document_patch).
-- NULL in either argument gives NULL.

create or replace function odl.engine_patch(doc jsonb, patch jsonb, out document jsonb, out inverse_patch jsonb)
language plpgsql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    outcome record;
begin
    perform odl.check_json(doc, null, 'document_bytes', 'the document');
    perform odl.check_json(patch, null, 'patch_bytes', 'the patch', 2);
    if jsonb_typeof(patch) = 'array' then
        perform odl.check_limit('engine_operations', jsonb_array_length(patch), 'the patch');
    end if;
    outcome := odl.document_patch(doc, patch, null);
    perform odl.raise_failure(outcome.sqlstate, outcome.message, outcome.detail);
    document := outcome.document;
    inverse_patch := outcome.inverse_patch;
end
$$;

revoke all on function odl.engine_patch(jsonb, jsonb) from public;
comment on function odl.engine_patch(jsonb, jsonb) is
'The document after an RFC 6902 patch and the patch that undoes it, held to the limits; for odl_jsonpatch_apply '
'and odl_jsonpatch_inverse';

create or replace function odl.odl_jsonpatch_apply(doc jsonb, patch jsonb)
returns jsonb
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select (odl.engine_patch(doc, patch)).document
$$;

revoke all on function odl.odl_jsonpatch_apply(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_apply(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_apply(jsonb, jsonb) is
'The document after an RFC 6902 patch, atomically (an empty patch returns it unchanged); errors name the '
'operation and its pointer. Held to the limits document_bytes (ODL01, also of the result), nesting_depth (ODL02), '
'patch_bytes (ODL03) and engine_operations (ODL06); NULL gives NULL';

create or replace function odl.odl_jsonpatch_inverse(doc jsonb, patch jsonb)
returns jsonb
language sql
immutable
strict
parallel restricted
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
    select (odl.engine_patch(doc, patch)).inverse_patch
$$;

revoke all on function odl.odl_jsonpatch_inverse(jsonb, jsonb) from public;
grant execute on function odl.odl_jsonpatch_inverse(jsonb, jsonb) to odl_app, odl_analyst, odl_admin;
comment on function odl.odl_jsonpatch_inverse(jsonb, jsonb) is
'The patch that undoes an RFC 6902 patch applied to doc: applied to the result, it gives doc back exactly. '
'Held to the same limits as odl_jsonpatch_apply; NULL gives NULL';
-- sql/040_documents_api/change_feed.sql as released in @v0.2.0
-- What follows a stored version: the projectors the writer calls in its own
-- transaction (odl.document_projectors), the first of them, which keeps
-- odl.document_instances equal to the documents' /instances, the analysts'
-- view of it, and the ordered feed of versions for consumers outside the
-- transaction.

create or replace function odl.run_projectors(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb,
    changed_pointers text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    handler regprocedure;
begin
    -- The loop's query keeps its plan for the session; each handler is one
    -- dynamic call whose arguments are bound, never spliced into the text.
    for handler in
        select p.handler from odl.document_projectors as p where p.enabled order by p.run_order
    loop
        execute format('select %s($1, $2, $3, $4, $5, $6)', handler::regproc)
        using tenant_id, doc_id, project_id, version, doc, changed_pointers;
    end loop;
end
$$;

revoke all on function odl.run_projectors(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.run_projectors(text, text, text, integer, jsonb, text[]) is
'Calls every enabled projector of odl.document_projectors, in run_order, with a version the writer just stored: '
'(tenant_id, doc_id, project_id, version, document, changed_pointers). The writer calls it in its transaction';

create or replace function odl.project_instances(
    tenant_id text,
    doc_id text,
    project_id text,
    version integer,
    doc jsonb,
    changed_pointers text[]
)
returns void
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
-- A row per element of /instances that is an object with a string id, the
-- first one when an id repeats (the writer refuses documents that repeat
-- one). A pointer below /instances/N re-projects position N only; one at
-- /instances or above it (a new document, an element added, removed or
-- moved) compares the whole array with the rows and writes the difference.
-- Every statement is shaped so that its plan cannot turn quadratic in the
-- number of instances, whatever the table's statistics say.
declare
    whole boolean;
    positions integer [];
    fresh odl.document_instances [];
    gone text [];
begin
    select
        coalesce(bool_or(p.pointer in ('', '/instances') or m.n is null and starts_with(p.pointer, '/instances/')), false),
        array_agg(distinct m.n) filter (where m.n is not null)
    into whole, positions
    from unnest(coalesce(changed_pointers, '{""}')) as p (pointer)
    cross join lateral (
        select case
            when starts_with(p.pointer, '/instances/') and split_part(p.pointer, '/', 3) ~ '^(0|[1-9][0-9]{0,8})$'
                then split_part(p.pointer, '/', 3)::integer
        end as n
    ) as m;

    if not whole and positions is null then
        return;
    end if;

    -- A pointer below /instances/N leaves the array's length and order as
    -- they were: each such element's row is updated in place, where it
    -- differs, unless the element's id changed. -> reaches an element
    -- without copying the array around it.
    if not whole and jsonb_typeof(doc -> 'instances') = 'array' then
        delete from odl.document_instances as i
        where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
            and i.position = any(positions)
            and doc -> 'instances' -> i.position -> 'id' is distinct from to_jsonb(i.instance_id);
        insert into odl.document_instances as i (
            tenant_id, doc_id, instance_id, project_id, position, type_ref, parent_ref, lifecycle_status, location
        )
        select
            project_instances.tenant_id, project_instances.doc_id, e.value ->> 'id', project_instances.project_id,
            p.n, e.value ->> 'type_ref', e.value ->> 'parent_ref', e.value ->> 'lifecycle_status', e.value -> 'location'
        from unnest(positions) as p (n)
        cross join lateral (select doc -> 'instances' -> p.n as value) as e
        where jsonb_typeof(e.value -> 'id') = 'string'
        on conflict on constraint document_instances_pkey do update
        set position = excluded.position,
            type_ref = excluded.type_ref,
            parent_ref = excluded.parent_ref,
            lifecycle_status = excluded.lifecycle_status,
            location = excluded.location
        where (i.position, i.type_ref, i.parent_ref, i.lifecycle_status, i.location)
            is distinct from (
                excluded.position, excluded.type_ref, excluded.parent_ref, excluded.lifecycle_status, excluded.location
            );
        return;
    end if;

    -- Set differences (hashed or sorted, never a nested loop, whatever the
    -- statistics) find the elements whose row is missing or differs, and
    -- the rows whose id is gone; only those are written.
    with n as (
        select distinct on (e.value ->> 'id')
            e.value ->> 'id' as instance_id,
            project_instances.project_id,
            (e.n - 1)::integer as position,
            e.value ->> 'type_ref' as type_ref,
            e.value ->> 'parent_ref' as parent_ref,
            e.value ->> 'lifecycle_status' as lifecycle_status,
            e.value -> 'location' as location
        from jsonb_array_elements(
            case when doc @? 'strict $.instances ? (@.type() == "array")' then doc -> 'instances' else '[]' end
        ) with ordinality as e (value, n)
        where jsonb_typeof(e.value -> 'id') = 'string'
        order by e.value ->> 'id', e.n
    ),

    o as (
        select
            i.instance_id, i.project_id::text, i.position, i.type_ref, i.parent_ref, i.lifecycle_status, i.location
        from odl.document_instances as i
        where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
    )

    select
        array(
            select row(
                project_instances.tenant_id, project_instances.doc_id, f.instance_id, f.project_id, f.position,
                f.type_ref, f.parent_ref, f.lifecycle_status, f.location, null, null
            )::odl.document_instances
            from (select * from n except select * from o) as f
        ),
        array(select o.instance_id from o except select n.instance_id from n)
    into fresh, gone;

    delete from odl.document_instances as i
    where i.tenant_id = project_instances.tenant_id and i.doc_id = project_instances.doc_id
        and i.instance_id = any(gone || array(select f.instance_id from unnest(fresh) as f));
    insert into odl.document_instances (
        tenant_id, doc_id, instance_id, project_id, position, type_ref, parent_ref, lifecycle_status, location
    )
    select f.tenant_id, f.doc_id, f.instance_id, f.project_id, f.position, f.type_ref, f.parent_ref,
        f.lifecycle_status, f.location
    from unnest(fresh) as f;
end
$$;

revoke all on function odl.project_instances(text, text, text, integer, jsonb, text[]) from public;
comment on function odl.project_instances(text, text, text, integer, jsonb, text[]) is
'The instances projector: keeps odl.document_instances equal to the document''s /instances, re-projecting only '
'the positions below which a pointer changed, else the whole array (writing only rows that differ)';

create or replace function odl.rebuild_instances(doc_id text)
returns integer
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
declare
    stored record;
begin
    select d.tenant_id, d.project_id, d.version, d.doc_json into stored
    from odl.odl_documents as d
    where d.doc_id = rebuild_instances.doc_id;
    if not found then
        raise exception using
            errcode = 'ODD01',
            message = 'document does not exist',
            detail = format('doc_id %s', quote_nullable(rebuild_instances.doc_id));
    end if;
    perform odl.project_instances(
        stored.tenant_id, rebuild_instances.doc_id, stored.project_id, stored.version, stored.doc_json, '{""}'
    );
    return (
        select count(*)
        from odl.document_instances as i
        where i.tenant_id = stored.tenant_id and i.doc_id = rebuild_instances.doc_id
    );
end
$$;

revoke all on function odl.rebuild_instances(text) from public;
comment on function odl.rebuild_instances(text) is
'Projects a stored document''s instances again from its current version, as a new document would be; returns '
'how many rows it has. For repair, tests and the first deploy of the projector';

insert into odl.document_projectors (projector, handler, run_order)
values ('instances', 'odl.project_instances(text, text, text, integer, jsonb, text[])', 100)
on conflict (projector) do update set handler = excluded.handler, run_order = excluded.run_order;

-- Documents stored before the projector existed (an upgrade from v0.1.0)
-- are projected once here; later deploys find them projected.
do $$
begin
    perform odl.project_instances(d.tenant_id, d.doc_id, d.project_id, d.version, d.doc_json, '{""}')
    from odl.odl_documents as d
    where not exists (
        select from odl.document_instances as i where i.tenant_id = d.tenant_id and i.doc_id = d.doc_id
    );
end
$$;

-- Analysts read the projection through this view. Like
-- odl.readable_documents it runs as its owner under RLS (the context's
-- tenant only); it lists the instances of projects where the reader may
-- read the instances section (R, and the clearance for its
-- classification). A project's instances of one type, or in one state,
-- come from the indexes (tenant_id, project_id, type_ref) and
-- (tenant_id, project_id, lifecycle_status).
create or replace view odl.readable_instances
with (security_barrier)
as
with readable_nodes as (
    select n.node_id
    from (select distinct p.node_id from odl.projects as p where p.node_id is not null) as n
    cross join odl.current_context as c
    cross join lateral odl.user_rights(c.user_id, n.node_id) as r
    inner join odl.rbac_sections as s on r.section = s.section
    inner join odl.classification_levels as l on s.classification = l.level
    where r.section = 'instances' and strpos(r.rights, 'R') > 0 and r.clearance >= l.rank
)

select
    i.project_id,
    i.doc_id,
    i.instance_id,
    i.position,
    i.type_ref,
    i.parent_ref,
    i.lifecycle_status,
    i.location,
    i.lat,
    i.lon
from odl.document_instances as i
inner join odl.projects as p on i.tenant_id = p.tenant_id and i.project_id = p.project_id
where p.node_id in (select rn.node_id from readable_nodes as rn);

revoke all on odl.readable_instances from public;
grant select on odl.readable_instances to odl_analyst;
-- A view checks EXECUTE on the functions it calls against its reader.
grant execute on function
odl.user_roles(text, text, timestamptz), odl.user_rights(text, text), odl.role_rights(text[])
to odl_analyst;
comment on view odl.readable_instances is
'Every instance of the current documents of projects where the reader may read the instances section, one row '
'each, kept equal to the documents by the instances projector (odl_analyst). Filter by project_id and type_ref, '
'or project_id and lifecycle_status, to use an index';

-- The feed orders versions by transaction id, which a transaction takes
-- at its first write (odl_set_context), not at commit. A writer that began
-- before the previous version committed would hold a smaller id than that
-- version; it takes the previous version's key instead, so that a
-- document's versions never appear out of order. Keys only grow, so no
-- version can sort before one the feed has handed out (odl_changes_since).
create or replace function odl.version_feed_order()
returns trigger
language plpgsql
volatile
security invoker
set search_path = pg_catalog, odl, pg_temp
as $$
begin
    new.xid := greatest(
        new.xid,
        (
            select v.xid
            from odl.odl_document_versions as v
            where v.tenant_id = new.tenant_id and v.doc_id = new.doc_id and v.version = new.version - 1
        )
    );
    return new;
end
$$;

revoke all on function odl.version_feed_order() from public;
comment on function odl.version_feed_order() is
'Trigger: a new version''s feed key (xid) is its transaction''s id, or the previous version''s key when larger';

create or replace trigger odl_document_versions_feed_order
before insert on odl.odl_document_versions
for each row execute function odl.version_feed_order();

create or replace function odl.odl_changes_since(after text default null, max_count integer default 1000)
returns table (
    "position" text, -- noqa: RF06
    doc_id text,
    project_id text,
    version integer,
    doc_hash text,
    changed_pointers text[],
    created_by text,
    created_at timestamptz
)
language plpgsql
stable
security definer
set search_path = pg_catalog, odl, pg_temp
as $$
#variable_conflict use_column
-- The feed is ordered by (writing transaction, version_id) and stops before
-- the oldest transaction still running: every version after that horizon
-- commits later with a larger transaction id, so it can never land before
-- a position already handed out. Pointers are shown as a read would show
-- the document: those in sections the reader may not read, or in parts
-- classified above the reader's clearance, are left out.
declare
    context record := odl.require_context();
    horizon constant xid8 := pg_snapshot_xmin(pg_current_snapshot());
    after_xid xid8 := '0';
    after_version_id bigint := 0;
    -- project_id -> {"keys": top-level keys the reader may read there,
    -- "hidden": a pattern matching the pointers of parts they may not}
    scope jsonb;
begin
    if after is not null then
        if after !~ '^[0-9]{1,20}:[0-9]{1,18}$' then
            raise exception using
                errcode = '22023',
                message = 'malformed change feed position',
                detail = format('after %s', quote_literal(after)),
                hint = 'Pass null to read from the start, or the position of the last change read.';
        end if;
        after_xid := split_part(after, ':', 1)::xid8;
        after_version_id := split_part(after, ':', 2)::bigint;
    end if;
    if max_count is null or max_count not between 1 and 10000 then
        raise exception using
            errcode = '22023',
            message = 'max_count must be between 1 and 10000',
            detail = format('max_count %s', coalesce(max_count::text, 'null'));
    end if;
    -- Rights are decided per node, once, not per version.
    with node_scope as (
        select
            n.node_id,
            jsonb_build_object(
                'keys', jsonb_agg(k.key) filter (where strpos(r.rights, 'R') > 0 and r.clearance >= l.rank),
                'hidden', (
                    select string_agg(
                        '^' || replace(regexp_replace(c.pointer, '([.^$+?()\[\]{}|\\])', '\\\1', 'g'), '*', '[^/]+')
                        || '(/|$)',
                        '|'
                    )
                    from odl.rbac_classified_parts as c
                    inner join odl.classification_levels as cl on c.classification = cl.level
                    where cl.rank > max(r.clearance)
                )
            ) as scope
        from (select distinct q.node_id from odl.projects as q where q.node_id is not null) as n
        cross join lateral odl.user_rights(context.user_id, n.node_id) as r
        inner join odl.rbac_sections as s on r.section = s.section
        inner join odl.classification_levels as l on s.classification = l.level
        inner join odl.rbac_section_keys as k on r.section = k.section
        group by n.node_id
        having bool_or(strpos(r.rights, 'R') > 0)
    )

    select jsonb_object_agg(p.project_id, ns.scope) into scope
    from odl.projects as p
    inner join node_scope as ns on p.node_id = ns.node_id;

    return query
    select
        format('%s:%s', v.xid, v.version_id),
        v.doc_id::text,
        d.project_id::text,
        v.version,
        v.doc_hash,
        case when v.changed_pointers is not null then array(
            select x.pointer
            from unnest(v.changed_pointers) with ordinality as x (pointer, n)
            cross join lateral (select scope -> d.project_id::text as shown) as y
            where x.pointer = ''
                or y.shown -> 'keys' ? replace(replace(split_part(x.pointer, '/', 2), '~1', '/'), '~0', '~')
                and x.pointer !~ coalesce(y.shown ->> 'hidden', '$^')
            order by x.n
        ) end,
        v.created_by::text,
        v.created_at
    from odl.odl_document_versions as v
    inner join odl.odl_documents as d on v.tenant_id = d.tenant_id and v.doc_id = d.doc_id
    where v.tenant_id = context.tenant_id
        and (v.xid, v.version_id) > (after_xid, after_version_id)
        and v.xid < horizon
        and scope ? d.project_id
    order by v.xid, v.version_id
    limit max_count;
end
$$;

revoke all on function odl.odl_changes_since(text, integer) from public;
grant execute on function odl.odl_changes_since(text, integer) to odl_app;
comment on function odl.odl_changes_since(text, integer) is
'The versions of documents the acting user may read, stored after the position "after" (null: from the start), '
'by writing transaction (a document''s versions in their order), at most max_count (1 to 10000); pass the last '
'row''s position to read on. Versions of transactions still running appear once they and all older ones have '
'ended. changed_pointers leaves out what the reader may not read. ODC01, 22023';

call odl.adopt_objects();

commit;
