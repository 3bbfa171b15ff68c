"""RFC 6902 JSON Patch, applied in place, with the patch that undoes it.

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
