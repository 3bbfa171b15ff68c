"""RFC 8785 (JSON Canonicalization Scheme) and ODL-SD content hashes.

The canonical form is UTF-8 JSON with no whitespace, object members sorted
by the UTF-16 code units of their names, strings escaped minimally, and
numbers written as ECMAScript writes an IEEE 754 double. Every JSON number
is therefore read as a double, as RFC 8785 requires: integers beyond 2**53
lose precision in the hash (not in the stored document).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from odl_db.guards import check_interrupts

__all__ = [
    "NumberOutOfRange",
    "Unfit",
    "canonical_json",
    "content_hash",
    "decimal_canonical_json",
    "ecma_number",
    "hash_text",
    "jsonb_number",
    "jsonb_text",
    "out_of_range",
    "refuse_out_of_range",
    "text_canonical",
    "utf16_key",
]

# Python sorts keys by code point, RFC 8785 by UTF-16 code unit: the two
# orders differ only when a key holds a character beyond the BMP.
_BEYOND_BMP = re.compile("[\U00010000-\U0010FFFF]")


def canonical_json(value: Any) -> str:
    """The RFC 8785 text of a JSON value (dict, list, str, number, bool, None)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def text_canonical(text: str) -> str:
    """The RFC 8785 text of JSON text (as jsonb writes it), numbers read
    exactly and written as doubles; NumberOutOfRange names the pointer of
    a number beyond a double."""
    value = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    try:
        return decimal_canonical_json(value)
    except NumberOutOfRange:
        refuse_out_of_range(value)
        raise


def content_hash(value: Any) -> str:
    """ODL-SD's content hash: "sha256:" and the hex SHA-256 of the canonical UTF-8."""
    return hash_text(canonical_json(value))


def hash_text(canonical: str) -> str:
    """The content hash of a value's canonical text."""
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class NumberOutOfRange(ValueError):
    """A number beyond the range of an IEEE 754 double (1e400): RFC 8785
    has no way to write it, nor has JSON an infinity. SQLSTATE 22003; the
    detail names the JSON pointer once `out_of_range` has found it."""

    sqlstate = "22003"

    def __init__(self, number: str, pointer: str | None = None) -> None:
        where = f" at {pointer or '(root)'}" if pointer is not None else ""
        super().__init__(f"number {number}{where} is out of range for RFC 8785, which writes finite doubles only")
        self.number = number
        self.pointer = pointer
        self.detail = None if pointer is None else f"pointer {pointer}"


# A number beyond a double needs an exponent of three digits or 309 digits
# before its point: text without either holds none (strings may match).
_MAYBE_HUGE = re.compile(r"[eE]\+?[0-9]{3}|[0-9]{309}")


def out_of_range(value: Any, text: str | None = None) -> NumberOutOfRange | None:
    """The error naming the first number of `value` (depth first, members
    in order) beyond a double, with its JSON pointer; None when there is
    none. Walks without recursion. Given the value's JSON text, a regular
    expression clears nearly every value without walking it."""
    if text is not None and not _MAYBE_HUGE.search(text):
        return None
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        check_interrupts()
        node, pointer = stack.pop()
        if isinstance(node, dict):
            stack.extend(
                (item, pointer + "/" + key.replace("~", "~0").replace("/", "~1"))
                for key, item in reversed(list(node.items()))
            )
        elif isinstance(node, list):
            stack.extend((item, f"{pointer}/{i}") for i, item in reversed(list(enumerate(node))))
        elif isinstance(node, (int, float, Decimal)) and not isinstance(node, bool):
            try:
                finite = math.isfinite(float(node))
            except OverflowError:
                finite = False
            if not finite:
                return NumberOutOfRange(_shown(node), pointer)
    return None


def refuse_out_of_range(value: Any, text: str | None = None) -> None:
    """Raise NumberOutOfRange, naming its pointer, for the first number of
    `value` beyond a double (see out_of_range)."""
    error = out_of_range(value, text)
    if error is not None:
        raise error


def _shown(number: Any) -> str:
    text = str(number)
    return text if len(text) <= 40 else f"{Decimal(text):.6E}"


class Unfit(Exception):
    """A number the C encoder cannot write as required."""


def ecma_number(item: Any) -> int | float:
    """json.dumps's `default` for RFC 8785: a Decimal as an int, or as a
    float whose repr() has neither an exponent nor a trailing ".0", which
    json.dumps then writes exactly as ECMAScript would; Unfit otherwise."""
    if not isinstance(item, Decimal):
        raise Unfit
    if item == item.to_integral_value() and abs(item) < 2**53:
        return int(item)
    double = float(item)
    if double.is_integer() or "e" in repr(double):
        raise Unfit
    return double


def jsonb_number(item: Any) -> int | float:
    """json.dumps's `default` for jsonb text: a Decimal as an int or float
    that json.dumps writes with the very digits the Decimal has; Unfit
    otherwise (2.50, 1E+2, -0)."""
    if not isinstance(item, Decimal):
        raise Unfit
    text = str(item)
    if text.lstrip("-").isdigit() and text != "-0":
        return int(text)
    double = float(item)
    if repr(double) != text:
        raise Unfit
    return double


_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, default=ecma_number
)
_JSONB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=jsonb_number)


def decimal_canonical_json(value: Any) -> str:
    """canonical_json() for a value whose numbers are all Decimal, as the
    jsonb transform delivers them, written mostly by the C encoder (about
    twice as fast). Falls back to canonical_json() when it must."""
    try:
        text = _CANONICAL.encode(value)
    except (Unfit, ValueError):
        return canonical_json(value)
    return canonical_json(value) if _BEYOND_BMP.search(text) else text


def jsonb_text(value: Any) -> str | None:
    """Compact JSON for a value whose numbers are all Decimal, spelling each
    number as jsonb does, so that casting it to jsonb gives the same value;
    None when some number cannot be spelled so. Much faster than handing the
    value back through the jsonb transform."""
    try:
        return _JSONB.encode(value)
    except (Unfit, ValueError):
        return None


def _write(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, (int, float, Decimal)):
        parts.append(_number(value))
    elif isinstance(value, dict):
        check_interrupts()
        parts.append("{")
        for i, key in enumerate(sorted(value, key=utf16_key)):
            if i:
                parts.append(",")
            parts.append(encode_basestring(key))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        check_interrupts()
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def utf16_key(name: str) -> bytes:
    """The sort key of a member name in RFC 8785: big-endian UTF-16 bytes
    compare exactly as UTF-16 code units do."""
    return name.encode("utf-16-be", "surrogatepass")


def _number(value: int | float | Decimal) -> str:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise NumberOutOfRange(_shown(value))
    if number == 0:
        return "0"
    if abs(number) < 2**53 and number.is_integer():
        return str(int(number))
    # repr() gives the shortest digits that round-trip; ECMAScript's
    # Number::toString then decides between plain and exponent notation.
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = head + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + text
