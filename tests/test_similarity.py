"""Copied work: the similarity of answers, calibrated on independently written correct answers of the demo lesson."""
import copy

import nbformat
import pytest

from conftest import write_lesson
from course_tools import notebook, rebuild, similarity

# Correct answers to the demo lesson's two exercises (square, cube), each written in its own style.
HONEST = {
    "ada": ("return x * x", "return x ** 3"),
    "ben": ("return pow(x, 2)", "return pow(x, 3)"),
    "chloe": ("result = 1\nfor _ in range(2):\n    result = result * x\nreturn result",
              "total = 1\nfor step in range(3):\n    total *= x\nreturn total"),
    "dev": ("import numpy as np\nreturn float(np.square(x))", "import numpy as np\nreturn float(np.power(x, 3))"),
    "emma": ("# multiply the number by itself\nsquared = x * x\nreturn squared",
             "# x cubed is x times x squared\nreturn x * square(x)"),
    "farid": ("y = float(x)\nreturn y * y if y >= 0 else (-y) * (-y)", "base = x\nreturn base * base * base"),
    "gita": ("value = x\nvalue = value * x\nreturn value", "out = x * x\nout = out * x\nreturn out"),
    "hugo": ("squares = {x: x * x}\nreturn squares[x]", "cubed = [x * x * x][0]\nreturn cubed"),
}
ORIGINAL = ('if not isinstance(x, (int, float)):\n    raise TypeError("x must be a number")\nanswer = x\n'
            'answer = answer * x\nreturn answer',
            'if not isinstance(x, (int, float)):\n    raise TypeError("x must be a number")\nanswer = square(x)\n'
            'answer = answer * x\nreturn answer')
RENAMED = tuple(a.replace("answer", "res").replace("x must be a number", "need a number") for a in ORIGINAL)


def answered(student_nb, square_body: str, cube_body: str) -> str:
    """The student notebook with the two exercises answered, as a file's text."""
    nb = copy.deepcopy(student_nb)
    for cell_id, function, body in (("ex1", "square", square_body), ("ex2", "cube", cube_body)):
        cell = next(c for c in nb.cells if c.id == cell_id)
        cell.source = f"def {function}(x):\n" + "\n".join(f"    {line}" for line in body.split("\n"))
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    solution = write_lesson(tmp_path_factory.mktemp("similarity"))
    return rebuild.load_key(solution), notebook.make_student(solution)


def test_only_what_the_student_wrote_in_the_exercises_counts(lesson):
    key, student = lesson
    text = answered(student, *HONEST["chloe"])
    assert similarity.answers(text, key).split("\n") == [
        "    result = 1", "    for _ in range(2):", "        result = result * x", "    return result",
        "    total = 1", "    for step in range(3):", "        total *= x", "    return total"]
    assert similarity.answers(nbformat.writes(student), key) == ""  # the stubs and given lines are not answers
    assert similarity.answers("not a notebook", key) == ""


def test_copies_rank_first_and_honest_pairs_stay_below_the_threshold(lesson):
    key, student = lesson
    texts = {name: answered(student, *bodies) for name, bodies in HONEST.items()}
    texts |= {"orig": answered(student, *ORIGINAL), "copy": answered(student, *ORIGINAL),
              "renamed": answered(student, *RENAMED), "untouched": nbformat.writes(student)}
    pairs = similarity.compare({name: similarity.answers(text, key) for name, text in texts.items()})
    copied = {frozenset(p) for p in (("orig", "copy"), ("orig", "renamed"), ("copy", "renamed"))}
    assert {frozenset((p.first, p.second)) for p in pairs[:3]} == copied
    assert all(p.similarity >= similarity.THRESHOLD for p in pairs[:3])
    honest = [p.similarity for p in pairs if not {p.first, p.second} & {"orig", "copy", "renamed"}]
    assert len(honest) == 28 and max(honest) < similarity.THRESHOLD - 0.1  # 8 honest students: every pair
    report = similarity.markdown(pairs, key.lesson, len(texts))
    assert "3 pair(s) at or above the threshold" in report
    section = next(s for s in report.split("\n## ") if s.split("\n")[0].endswith("orig and renamed: 1.00"))
    assert any("answer = answer * x" in line and "res = res * x" in line for line in section.split("\n"))


def test_the_report_cannot_be_broken_out_of_its_code_blocks(lesson):
    key, student = lesson
    body = "s = '```'\nreturn x * x if s else x * x * x * 1"
    written = {name: similarity.answers(answered(student, body, body), key) for name in ("a|b", "c")}
    report = similarity.markdown(similarity.compare(written), key.lesson, 2)
    assert "a\\|b" in report and "````text" in report
