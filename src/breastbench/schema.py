"""Typed, validated loading of plain dicts into dataclasses (every config section).

Every experiment-file section is a dataclass whose fields carry their default and a one-line
``help`` in ``field(metadata=...)``. :func:`from_dict` rejects unknown keys and wrong types
with one line naming the dotted field, the bad value and what is allowed (as peft does in
``__post_init__``), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from breastbench.errors import UserError


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _same_kind(value: Any, tp: Any) -> bool:
    """True when ``value`` is a list/mapping/number and ``tp`` is that kind of annotation."""
    origin = get_origin(tp) or tp
    if isinstance(value, list):
        return origin is list
    if isinstance(value, dict):
        return origin is dict or dataclasses.is_dataclass(tp)
    return isinstance(value, float) and tp is float


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert where lossless."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None  # `key: null` is None, never a member dataclass built from defaults
        errors = []
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(value, arg, where)
            except UserError as err:
                errors.append((arg, err))
        for arg, err in errors:  # the member of the value's own kind says what is wrong inside
            if _same_kind(value, arg):
                raise err
        raise UserError(f"{where}: got {value!r}; expected {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        # YAML reads on/off as booleans: accept them for on/off choices.
        if isinstance(value, bool) and "off" in allowed and (value is False or "on" in allowed):
            value = "on" if value else "off"
        if value not in allowed:
            raise UserError(
                f"{where}: got {value!r}; allowed: {', '.join(repr(a) for a in allowed)}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            value = [value]  # a scalar where a list is expected means a one-element list
        (arg,) = get_args(tp)
        return [coerce(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: got {value!r}; expected a mapping")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"{where}: got {value!r}; expected a number")
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"{where}: got {value!r}; expected a number") from None
        if not math.isfinite(number):
            raise UserError(f"{where}: got {value!r}; expected a finite number")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: got {value!r}; expected an integer")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: got {value!r}; expected true or false")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"{where}: got {value!r}; expected a string")
        return str(value)
    raise AssertionError(f"unsupported annotation {tp!r} at {where}")


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from ``data``; errors name ``where.field``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping of {cls.__name__} fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError(f"{path}: required field is missing ({f.metadata.get('help', '')})")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(where)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data view of a (nested) dataclass, for saving the resolved config."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(field, default, help) rows, for documentation and ``--help`` epilogues."""
    rows = []
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else "")
        )
        rows.append((f.name, repr(default), f.metadata.get("help", "")))
    return rows
