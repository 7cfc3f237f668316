"""Typed access to one table of a case file, with messages that name the file and the key.

Every mistake becomes a one-line :class:`CaseError`::

    poisson.toml: [solver] rtol = 'small': expected a number >= 0, given a string
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any

from krylovfem.expr import Expression, ExpressionError, compile_expression
from krylovfem.schema import keys_by_section

#: Every section and key a case file may contain; anything else is an error.  Derived
#: from the reference table of :mod:`krylovfem.schema`, so the page cannot list others.
SCHEMA: dict[str, tuple[str, ...]] = keys_by_section()


#: Longest case name: the folder ``.<name>.compare--<overrides>.lock`` must stay within
#: the 255 bytes a file system allows in one name.
MAX_NAME_BYTES = 100


class CaseError(ValueError):
    """A case file (or a ``--set`` override) that is not a valid case; a one-line message."""


def type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Section:
    """Typed access to one table of the case file, raising :class:`CaseError`."""

    def __init__(self, source: str, name: str, table: dict, overridden: Mapping[str, str]):
        self.source = source
        self.name = name
        self.table = table
        # "section.key" -> the command-line option that set it ("--set", "--steps", ...)
        self.overridden = overridden

    def label(self, key: str) -> str:
        section = f"[{self.name}] " if self.name else ""
        option = self.overridden.get(f"{self.name}.{key}".lstrip("."))
        return f"{section}{key}" + (f" (from {option})" if option else "")

    def error(self, key: str, message: str) -> CaseError:
        return CaseError(f"{self.source}: {self.label(key)}: {message}")

    def wrong(self, key: str, allowed: str) -> CaseError:
        value = self.table[key]
        return CaseError(
            f"{self.source}: {self.label(key)} = {shown(value)}: expected {allowed}, "
            f"given {type_name(value)}"
        )

    def out_of_range(self, key: str, allowed: str) -> CaseError:
        value = self.table[key]
        return CaseError(f"{self.source}: {self.label(key)} = {shown(value)}: out of range; "
                         f"allowed: {allowed}")

    def has(self, key: str) -> bool:
        return key in self.table

    def number(self, key: str, default: float | None, *, minimum: float | None = None,
               positive: bool = False) -> float | None:
        if key not in self.table:
            return default
        value = self.table[key]
        allowed = "a number" + (" > 0" if positive else "" if minimum is None
                                else f" >= {minimum:g}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong(key, allowed)
        value = float(value)
        if not math.isfinite(value) or (positive and value <= 0) or (
            minimum is not None and value < minimum
        ):
            raise self.out_of_range(key, allowed)
        return value

    def integer(self, key: str, default: int | None, *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        if key not in self.table:
            return default
        value = self.table[key]
        bounds = [f">= {minimum}" if minimum is not None else "",
                  f"<= {maximum}" if maximum is not None else ""]
        allowed = " and ".join(["an integer " + bounds[0], bounds[1]] if all(bounds)
                               else ["an integer " + "".join(bounds)]).strip()
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.wrong(key, allowed)
        if (minimum is not None and value < minimum) or (maximum is not None
                                                          and value > maximum):
            raise self.out_of_range(key, allowed)
        return value

    def checked(self, key: str, value: Any, check: Callable[[Any], Any]) -> None:
        """Run a library's own check of ``value`` (its ranges live there); its
        ``ValueError`` becomes a one-line error naming the key and the value given (so
        does an ``OverflowError``: an integer beyond what the library's arrays hold)."""
        try:
            check(value)
        except (ValueError, OverflowError) as error:
            given = self.table.get(key, value)
            raise CaseError(f"{self.source}: {self.label(key)} = {shown(given)}: "
                            f"{' '.join(str(error).split())}") from None

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false")
        return value

    def string(self, key: str, default: str | None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.wrong(key, "a non-empty string")
        return value

    def path(self, key: str, default: str | None) -> str | None:
        """A file or folder name: a non-empty string without the NUL character, which no
        file system takes in a name."""
        value = self.string(key, default)
        if value is not None and "\x00" in value:
            raise CaseError(f"{self.source}: {self.label(key)} = {shown(value)}: a path "
                            f"cannot hold the NUL character; allowed: a path")
        return value

    def file_name(self, key: str, default: str) -> str:
        """A name that becomes one folder name (``results/<name>``): at most
        :data:`MAX_NAME_BYTES` bytes, no path separator or control character, not ``.``
        or ``..``."""
        value = self.string(key, default)
        allowed = (f"a name of at most {MAX_NAME_BYTES} bytes without / \\ or control "
                   f"characters, not . or ..")
        if (value in (".", "..") or any(char in "/\\" or ord(char) < 32 or ord(char) == 127
                                         for char in value)
                or len(value.encode("utf-8")) > MAX_NAME_BYTES):
            raise CaseError(f"{self.source}: {self.label(key)} = {shown(value)}: not usable as "
                            f"a folder name; allowed: {allowed}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        if key not in self.table:
            return default
        value = self.table[key]
        allowed = " | ".join(choices)
        if not isinstance(value, str):
            raise self.wrong(key, f"one of {allowed}")
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CaseError(f"{self.source}: {self.label(key)} = {shown(value)}: unknown"
                            f"{hint}; allowed: {allowed}")
        return value

    def numbers(self, key: str, length: int) -> tuple[float, ...] | None:
        if key not in self.table:
            return None
        value = self.table[key]
        allowed = f"an array of {length} numbers"
        if not isinstance(value, list) or len(value) != length or any(
            isinstance(item, bool) or not isinstance(item, int | float) for item in value
        ):
            raise self.wrong(key, allowed) if not isinstance(value, list) else CaseError(
                f"{self.source}: {self.label(key)} = {shown(value)}: expected {allowed}"
            )
        if not all(math.isfinite(item) for item in value):
            raise self.out_of_range(key, "finite numbers")
        return tuple(float(item) for item in value)

    def expression_from(self, key: str, value: Any, variables: tuple[str, ...]) -> Expression:
        """Compile one expression (a string, or a plain number for convenience)."""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CaseError(f"{self.source}: {self.label(key)} = {shown(value)}: expected an "
                            f"expression (a string such as \"1 + x^2\"), given "
                            f"{type_name(value)}")
        text = value if isinstance(value, str) else repr(float(value))
        try:
            return compile_expression(text, allowed_variables=variables, where=self.label(key))
        except ExpressionError as error:
            raise self.error(key, str(error)) from None

    def expression(self, key: str, default: str | None,
                   variables: tuple[str, ...]) -> Expression | None:
        if key not in self.table:
            return None if default is None else compile_expression(default,
                                                                   where=self.label(key))
        return self.expression_from(key, self.table[key], variables)

    def table_of(self, key: str) -> dict:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.wrong(key, "a table such as { left = \"0\" }")
        return value


def unknown_key_error(source: str, section: str, key: str, allowed: tuple[str, ...],
                       what: str = "key") -> CaseError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    place = f"[{section}] " if section else ""
    if section == "" and what == "key":
        what = "key or section"
    return CaseError(f"{source}: {place}unknown {what} {key!r}{hint}; allowed: "
                     f"{', '.join(allowed)}")


def check_keys(source: str, section: str, table: dict, allowed: tuple[str, ...],
                reason: str = "") -> None:
    for key in table:
        if key not in allowed:
            if key in SCHEMA.get(section, ()):
                # a known key that this kind of problem does not use
                place = f"[{section}] " if section else ""
                raise CaseError(f"{source}: {place}{key} is not used {reason}; allowed here: "
                                f"{', '.join(allowed) or 'nothing'}")
            raise unknown_key_error(source, section, key, allowed)
