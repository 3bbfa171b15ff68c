"""A document held as pieces of text, so that a write re-serializes only
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

__all__ = ["Piece", "build", "from_text", "join", "split", "storage_replacing", "storage_text", "texts"]

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


def texts(piece: Piece) -> tuple[str, str]:
    """The canonical and the storage text of a piece below the top, joined
    once and kept."""
    return _texts(piece)


def split(piece: Piece, depth: int = 1, *, fresh: bool = False) -> Piece:
    """Make `piece` a split container (in place) so that a sub-tree of it can
    be reached. Its texts stay valid for the same content; `fresh` drops
    them, for a caller about to replace one of its members."""
    if piece.children is None and isinstance(piece.node, (dict, list)):
        node = piece.node
        if isinstance(node, dict):
            piece.children = {key: _new(value, depth + 1) for key, value in node.items()}
        else:
            piece.children = [_new(value, depth + 1) for value in node]
    if fresh:
        piece.canonical = piece.storage = None
    return piece


def storage_replacing(piece: Piece, replaced: dict[tuple, str]) -> str:
    """The storage text of the whole value with the sub-tree at each path
    (a tuple of member names and array indexes) written as the text given.
    Only the containers on those paths are joined again."""

    def walk(current: Piece, prefix: tuple, top: bool) -> str:
        if prefix in replaced:
            return replaced[prefix]
        if not any(path[: len(prefix)] == prefix for path in replaced):
            return join(current)[1] if top else _texts(current)[1]
        children = split(current).children
        if isinstance(children, dict):
            names = sorted(children, key=utf16_key)
            return "{" + ",".join(
                encode_basestring(name) + ":" + walk(children[name], prefix + (name,), False) for name in names
            ) + "}"
        return "[" + ",".join(walk(child, prefix + (index,), False) for index, child in enumerate(children)) + "]"

    return walk(piece, (), True)


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
