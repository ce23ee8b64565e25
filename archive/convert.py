"""Per-column value converters: each value is checked against the column's Arrow type and converted,
never guessed (a ``str`` is not parsed into a date, a ``bool`` is not an int, a ``datetime`` is not a
date). Checking at ``write()`` time makes the error point at the row the caller just gave.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

Converter = Callable[[Any], Any]


class _Bad(Exception):
    """Raised by a converter; ``path`` collects nested field names on the way up."""

    def __init__(self, expected: str, value: Any, path: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.path = path


def _short_repr(value: Any, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def describe(dataset: str, column: str, exc: _Bad) -> str:
    return (
        f"{dataset}.{column}{exc.path}: expected {exc.expected}, "
        f"got {_short_repr(exc.value)} ({type(exc.value).__name__})"
    )


def _conv_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise _Bad("str", v)


def _conv_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if type(v).__name__ == "bool_":  # numpy.bool_ without importing numpy
        return bool(v)
    raise _Bad("bool", v)


def _int_conv(bits: int) -> Converter:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    expected = f"int (int{bits})"

    def conv(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise _Bad(expected, v)
        v = int(v)
        if not lo <= v <= hi:
            raise _Bad(f"int in int{bits} range", v)
        return v

    return conv


def _conv_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _Bad("float", v)
    return float(v)


def _conv_date(v: Any) -> date:
    if isinstance(v, date) and not isinstance(v, datetime):
        return v
    raise _Bad("datetime.date (not a datetime)", v)


def _conv_timestamp(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)  # naive means UTC
    raise _Bad("datetime", v)


def _as_mapping(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    if dataclasses.is_dataclass(v) and not isinstance(v, type):  # e.g. crawler.items.Attachment
        return dataclasses.asdict(v)
    raise _Bad("dict", v)


def _struct_conv(t: pa.StructType) -> Converter:
    fields = [(f.name, converter_for(f.type), f.nullable) for f in t]
    names = {f.name for f in t}

    def conv(v: Any) -> dict[str, Any]:
        m = _as_mapping(v)
        unknown = m.keys() - names
        if unknown:
            raise _Bad(f"dict with keys among {sorted(names)} (unknown: {sorted(unknown)})", v)
        out = {}
        for name, c, nullable in fields:
            x = m.get(name)
            if x is None:
                if not nullable:
                    raise _Bad("a value (field is required)", x, f".{name}")
                out[name] = None
                continue
            try:
                out[name] = c(x)
            except _Bad as exc:
                exc.path = f".{name}{exc.path}"
                raise
        return out

    return conv


def _list_conv(t: pa.ListType) -> Converter:
    item = converter_for(t.value_type)

    def conv(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple):
            raise _Bad("list", v)
        out = []
        for i, x in enumerate(v):
            if x is None:
                out.append(None)
                continue
            try:
                out.append(item(x))
            except _Bad as exc:
                exc.path = f"[{i}]{exc.path}"
                raise
        return out

    return conv


def converter_for(t: pa.DataType) -> Converter:
    """The converter of one Arrow type; raises TypeError for a type the archive does not use."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _conv_str
    if pa.types.is_boolean(t):
        return _conv_bool
    if pa.types.is_integer(t):
        return _int_conv(t.bit_width)
    if pa.types.is_floating(t):
        return _conv_float
    if pa.types.is_date32(t):
        return _conv_date
    if pa.types.is_timestamp(t):
        return _conv_timestamp
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _list_conv(t)
    if pa.types.is_struct(t):
        return _struct_conv(t)
    raise TypeError(f"no converter for Arrow type {t}")
