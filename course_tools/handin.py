"""Values handed out of a lesson's kernel, for a grader that decides outside it.

A graded check calls `hand_in(name, value, message=..., atol=..., rtol=...)`: the kernel only
computes the value (the student's output on the check's inputs, a fact about a built model) and
appends it to the file named by COURSE_HANDIN_FILE. The worker that ran the kernel passes that
file's text to the grader (course_tools.worker), which reads it (`parse_handins`) and compares each
value with the answer key's (`matches`), using the tolerance and the message written in the key's
source (course_tools.rebuild), never what the kernel says.
Without COURSE_HANDIN_FILE (a student's own run), `hand_in` does nothing. A visible check runs in
`exercise_check`, which hands in whether it passed, for the grader to show the student at once.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

HANDIN_FILE_ENV = "COURSE_HANDIN_FILE"
MAX_HANDIN_BYTES = 16 * 2**20  # what the grader reads of a kernel's file
VISIBLE_CHECK = "visible check: {}"  # the hand-in name of an exercise's visible check


def plain_value(value):
    """`value` as JSON data: arrays and tensors become nested lists, tuples lists."""
    if hasattr(value, "numpy"):  # a TensorFlow tensor
        value = value.numpy()
    if hasattr(value, "tolist"):  # a NumPy array or scalar
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain_value(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"hand_in cannot record a {type(value).__name__}: use numbers, strings, lists, arrays or dicts.")


def hand_in(name: str, value, *, message: str, atol: float = 0.0, rtol: float = 0.0) -> None:
    """Record `value` under `name` for the grader (the key's source holds `message`, `atol` and `rtol`)."""
    target = os.environ.get(HANDIN_FILE_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": plain_value(value)}) + "\n")


@contextlib.contextmanager
def exercise_check(name: str):
    """An exercise's visible check: a stub's NotImplementedError becomes a message that says what to do, and
    whether the check passed is handed in (it earns no points: the kernel could fake it)."""
    passed = False
    try:
        yield
        passed = True
    except NotImplementedError:
        raise AssertionError(
            f"Exercise '{name}' is not done yet: replace `raise NotImplementedError()` "
            "in its cell with your code, run that cell, then run this check again."
        ) from None
    finally:
        hand_in(VISIBLE_CHECK.format(name), passed, message="")


def read_handins(path: Path) -> dict:
    """The hand-ins of a file (`parse_handins`); {} when it is not a regular file."""
    from course_tools.files import read_regular  # the grader's side: the student release ships this module alone

    data = read_regular(path, MAX_HANDIN_BYTES)
    return {} if data is None else parse_handins(data.decode("utf-8", errors="replace"))


def parse_handins(text: str) -> dict:
    """name -> value of the last hand-in under that name; lines that are not hand-ins are skipped."""
    values = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("name"), str) and "value" in record:
            values[record["name"]] = record["value"]
    return values


def matches(got, expected, atol: float = 0.0, rtol: float = 0.0) -> bool:
    """Whether `got` has `expected`'s structure, its strings and booleans, and its numbers within tolerance."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return False
        if not math.isfinite(expected) or not math.isfinite(got):
            return got == expected
        return abs(got - expected) <= atol + rtol * abs(expected)
    if isinstance(expected, list):
        return (isinstance(got, list) and len(got) == len(expected)
                and all(matches(g, e, atol, rtol) for g, e in zip(got, expected)))
    if isinstance(expected, dict):
        return (isinstance(got, dict) and got.keys() == expected.keys()
                and all(matches(got[k], e, atol, rtol) for k, e in expected.items()))
    return False
