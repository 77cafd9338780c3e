"""Reading JSON text that anyone may have written: one error type, one short reason, whatever went wrong.

``json.loads`` fails in four ways, and only one of them is ``JSONDecodeError``: text nested deeper than the
interpreter's stack raises ``RecursionError``, bytes that are not UTF-8 raise ``UnicodeDecodeError``, and an integer
of more than ``sys.get_int_max_str_digits()`` digits (4,300 by default) raises a bare ``ValueError``. A parser that
catches only the first lets the others escape as "a defect of ours": an event retried for a day, a queue message
failing on every attempt, a poison queue that the operator's commands cannot list. Every parser of outside text goes
through :func:`loads` and turns :class:`JSONTextError` into its own "bad input" error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any


class JSONTextError(ValueError):
    """Text that is not usable JSON. The message is a predicate ("is not JSON: ...", "holds an integer of ..."), so
    callers write ``f"work message {exc}"``; it never quotes the text itself."""


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads`` with every way of failing turned into :class:`JSONTextError`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:  # before ValueError: it is one
        raise JSONTextError(f"is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JSONTextError("is not JSON this service reads: it is nested too deeply") from None
    except UnicodeDecodeError:
        raise JSONTextError("is not JSON: its bytes are not UTF-8") from None
    except ValueError:  # json's int() of a literal longer than the interpreter's limit
        raise JSONTextError(f"is not JSON this service reads: it holds an integer of more than "
                            f"{sys.get_int_max_str_digits():,} digits") from None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` where it is a JSON object, else an empty one: a level of the wrong shape in a document anyone may
    have written holds nothing; it does not crash. Asked of every level of every run: the exact type first, then
    None, before the ABC check, which costs more."""
    if type(value) is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else {}
