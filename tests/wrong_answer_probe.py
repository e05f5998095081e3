"""Run inside a lesson's kernel, right after an exercise's check cell: try wrong answers against that check.

For each answer, `probe` executes the changed solution cell, then the check's visible part (what the
student runs), then its hidden part with the hand-ins sent to a file of their own; it writes what
each part raised and handed in to a JSON file for the test to judge, and leaves the kernel's names
and random states as it found them.
"""
import contextlib
import io
import json
import os
import random

import matplotlib.pyplot as plt
import numpy as np

from course_tools.handin import HANDIN_FILE_ENV, read_handins


def changed(solution: str, answer) -> str:
    """The solution cell with `answer` applied: a whole new source, or (text, replacement) for every occurrence."""
    if isinstance(answer, str):
        return answer
    old, new = answer
    if old not in solution:
        raise ValueError(f"{old!r} is not in the solution cell any more: update the wrong answer.")
    return solution.replace(old, new)


def raised(source: str, namespace: dict) -> str | None:
    """'Class: message' of what executing `source` in `namespace` raised, None if nothing did."""
    try:
        exec(compile(source, "<check>", "exec"), namespace)
    except Exception as error:  # noqa: BLE001 - what the check raised is the result
        return f"{type(error).__name__}: {error}"
    return None


@contextlib.contextmanager
def handins_to(path: str):
    saved = os.environ.get(HANDIN_FILE_ENV)
    os.environ[HANDIN_FILE_ENV] = path
    try:
        yield
    finally:
        if saved is None:
            del os.environ[HANDIN_FILE_ENV]
        else:
            os.environ[HANDIN_FILE_ENV] = saved


def probe(namespace: dict, solution: str, visible: str, hidden: str, answers: dict, out: str) -> None:
    names, figures = dict(namespace), set(plt.get_fignums())
    states = random.getstate(), np.random.get_state()
    outcomes = {}
    try:
        for number, (label, answer) in enumerate({"(the solution)": solution, **answers}.items()):
            handins = f"{out}.{number}.jsonl"
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    handins_to(handins):
                exec(compile(changed(solution, answer), "<answer>", "exec"), namespace)
                outcome = {"visible": raised(visible, namespace), "hidden": raised(hidden, namespace)}
            outcomes[label] = {**outcome, "handins": read_handins(handins)}
            namespace.clear()
            namespace.update(names)
    finally:
        namespace.clear()
        namespace.update(names)
        random.setstate(states[0])
        np.random.set_state(states[1])
        for number in set(plt.get_fignums()) - figures:
            plt.close(number)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(outcomes, handle)
