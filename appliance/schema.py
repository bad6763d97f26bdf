"""Strict building of frozen dataclasses from TOML tables: the profiles' and the protocols' loader.

A :class:`StrictBuilder` walks a table against a dataclass's type hints and collects every
problem it finds (the key path and what is wrong: an unknown key with the closest known one, a
missing required key, a wrong type, a value not among a ``Literal``'s) instead of stopping at
the first, so that a file is fixed in one pass. Subclasses say what their data allows:
negative numbers or not, and the named string checks a field can ask for
(``metadata={"check": name}``).
"""

from __future__ import annotations

__all__ = ["StrictBuilder", "schema_of"]

import dataclasses
import difflib
import types
import typing
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal

from .errors import Problem


@lru_cache(maxsize=None)
def schema_of(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """A dataclass's resolved type hints and its fields read from files (not ``internal``),
    worked out once per class (``typing.get_type_hints`` evaluates every annotation anew:
    called for each table, it was most of the time a profile took to load)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    return typing.get_type_hints(cls), fields


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _closest(key: str, known: Iterable[str]) -> str | None:
    m = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return m[0] if m else None


class StrictBuilder:
    """Builds dataclasses from the tables of *file*; problems collect in :attr:`problems`."""

    #: whether ints and floats may be negative
    negative_numbers = True
    #: named checks of string values: name -> function giving the problem, or None when fine
    checks: dict[str, Callable[[str], str | None]] = {}

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, key, message))

    def check_table_key(self, check: str | None, key: str) -> str | None:
        """The problem with *key* of a table whose field asks for *check*, or None."""
        return None

    def build(self, cls: type, table: Any, prefix: str) -> Any:
        """An instance of *cls* from *table*, or None when it has problems (all recorded)."""
        if not isinstance(table, dict):
            self.problem(prefix or "-", f"must be a table, got {type(table).__name__} {table!r}")
            return None
        hints, fields = schema_of(cls)
        for key in table:
            if key not in fields:
                near = _closest(key, fields)
                shown = repr(table[key])
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                self.problem(
                    _join(prefix, key),
                    f"unknown key (value {shown})" + (f"; did you mean {near!r}?" if near else ""),
                )
        values: dict[str, Any] = {}
        ok = True
        for name, f in fields.items():
            key = _join(prefix, name)
            if name not in table:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    self.problem(key, "required key is missing")
                    ok = False
                continue
            value, good = self.convert(hints[name], table[name], key, f.metadata.get("check"))
            if good:
                values[name] = value
            else:
                ok = False
        return cls(**values) if ok else None

    def convert(self, tp: Any, value: Any, key: str, check: str | None = None) -> tuple[Any, bool]:
        """*value* as type *tp* and whether it is good (a problem is recorded when not)."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any:
            return value, True
        if origin in (typing.Union, types.UnionType):
            if value is None:
                return None, True
            return self.convert([a for a in args if a is not type(None)][0], value, key, check)
        if dataclasses.is_dataclass(tp):
            obj = self.build(tp, value, key)  # type: ignore[arg-type]
            return obj, obj is not None
        if origin is tuple:
            return self._tuple(args, value, key, check)
        if origin is dict:
            return self._table(args[1], value, key, check)
        if origin is Literal:
            if value not in args:
                self.problem(key, f"{value!r} is not one of {', '.join(map(repr, args))}")
                return None, False
            return value, True
        if tp is bool:
            if not isinstance(value, bool):
                self.problem(key, f"must be true or false, got {value!r}")
                return None, False
            return value, True
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not self.negative_numbers):
                kind = "an integer" if self.negative_numbers else "a non-negative integer"
                self.problem(key, f"must be {kind}, got {value!r}")
                return None, False
            return value, True
        if tp is float:
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or (value < 0 and not self.negative_numbers)):
                kind = "a number" if self.negative_numbers else "a non-negative number of seconds"
                self.problem(key, f"must be {kind}, got {value!r}")
                return None, False
            return float(value), True
        if tp is str:
            if not isinstance(value, str):
                self.problem(key, f"must be a string, got {value!r}")
                return None, False
            bad = self.checks[check](value) if check else None
            if bad:
                self.problem(key, bad)
                return None, False
            return value, True
        raise TypeError(f"schema type {tp!r} not handled")  # a bug in a schema, not in data

    def _tuple(self, args: tuple, value: Any, key: str, check: str | None) -> tuple[Any, bool]:
        if not isinstance(value, list):
            self.problem(key, f"must be a list, got {value!r}")
            return None, False
        if len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(value)
        else:
            if len(value) != len(args):
                self.problem(key, f"must have {len(args)} values, got {value!r}")
                return None, False
            item_types = list(args)
        items, ok = [], True
        for i, (t, item) in enumerate(zip(item_types, value)):
            v, good = self.convert(t, item, f"{key}[{i}]", check)
            ok = ok and good
            items.append(v)
        return tuple(items), ok

    def _table(self, item_type: Any, value: Any, key: str, check: str | None) -> tuple[Any, bool]:
        if not isinstance(value, dict):
            self.problem(key, f"must be a table, got {value!r}")
            return None, False
        out, ok = {}, True
        for k, item in value.items():
            bad = self.check_table_key(check, k)
            if bad:
                self.problem(_join(key, k), bad)
                ok = False
                continue
            v, good = self.convert(item_type, item, _join(key, k), check)
            ok = ok and good
            out[k] = v
        return types.MappingProxyType(out), ok
