"""Copied work: answers read per exercise, compared as tokens weighted by how rare they are in the class, within
a time and size budget, reported with every string from a submission escaped; the benchmark's classes."""
import copy
import re
import time

import nbformat
import pytest

from benchmarks import similarity as benchmark
from conftest import ROOT, write_lesson
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
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


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


def scores(lesson, bodies: dict[str, tuple[str, str]]) -> dict[frozenset, similarity.Pair]:
    key, student = lesson
    comparison = similarity.compare({name: similarity.answers(answered(student, *pair), key)
                                     for name, pair in bodies.items()})
    return {frozenset((p.first, p.second)): p for p in comparison.pairs}


def test_only_what_the_student_wrote_in_each_exercise_counts(lesson):
    key, student = lesson
    found = similarity.answers(answered(student, HONEST["chloe"][0], STUB), key)
    assert list(found) == ["ex1"]  # the cube is still the stub: unanswered
    answer = found["ex1"]
    assert [answer.source.split("\n")[n] for n in sorted(answer.written)] == [
        "    result = 1", "    for _ in range(2):", "        result = result * x", "    return result"]
    assert answer.given == "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert similarity.answers(nbformat.writes(student), key) == {}
    assert similarity.answers("not a notebook", key) == {}


def test_copies_rank_first_and_honest_pairs_stay_below_the_threshold(lesson):
    key, student = lesson
    texts = {name: answered(student, *bodies) for name, bodies in HONEST.items()}
    texts |= {"orig": answered(student, *ORIGINAL), "copy": answered(student, *ORIGINAL),
              "renamed": answered(student, *RENAMED), "untouched": nbformat.writes(student)}
    pairs = similarity.compare({name: similarity.answers(text, key) for name, text in texts.items()}).pairs
    copied = {frozenset(p) for p in (("orig", "copy"), ("orig", "renamed"), ("copy", "renamed"))}
    assert {frozenset((p.first, p.second)) for p in pairs[:3]} == copied
    assert all(p.similarity >= similarity.THRESHOLD for p in pairs[:3])
    honest = [p.similarity for p in pairs if not {p.first, p.second} & {"orig", "copy", "renamed"}]
    assert len(honest) == 28 and max(honest) < similarity.THRESHOLD / 2  # 8 honest students: every pair
    report = similarity.markdown(similarity.compare({n: similarity.answers(t, key) for n, t in texts.items()}),
                                 key.lesson, len(texts))
    assert "3 pair(s) at or above the threshold" in report
    section = next(s for s in report.split("\n## ") if re.match(r"\d\. orig and renamed: ", s))
    assert any("answer = answer * x" in line and "res = res * x" in line for line in section.split("\n"))


def test_different_regular_expressions_do_not_match(lesson):
    digits = ('import re\ntext = re.sub(r"[^0-9.]", "", str(x))\ntext = re.sub(r"^0+", "", text)\n'
              'return float(text) * float(text)')
    spaces = ('import re\ntext = re.sub(r"\\s+", "", str(x))\ntext = re.sub(r"_", "", text)\n'
              'return float(text) * float(text)')
    renamed = digits.replace("text", "digits")
    pairs = scores(lesson, {**HONEST, "digits": (digits, HONEST["ada"][1]), "spaces": (spaces, HONEST["ben"][1]),
                            "renamed": (renamed, HONEST["ben"][1])})
    assert pairs[frozenset(("digits", "renamed"))].similarity >= similarity.THRESHOLD
    different = pairs[frozenset(("digits", "spaces"))]
    assert different.similarity < similarity.THRESHOLD  # the same code around them
    assert not any("re.sub" in line for pair in different.lines for line in pair)
    assert any("re.sub" in line for pair in pairs[frozenset(("digits", "renamed"))].lines for line in pair)


def test_code_most_of_the_class_wrote_counts_for_little(lesson):
    alike = HONEST["chloe"]
    alone = scores(lesson, {**HONEST, "chloe": alike, "copier": alike})
    common = scores(lesson, {**{name: alike for name in HONEST}, "copier": alike})
    assert alone[frozenset(("chloe", "copier"))].similarity >= similarity.THRESHOLD
    assert common[frozenset(("chloe", "copier"))].similarity < similarity.THRESHOLD / 2


def test_one_answered_exercise_is_compared_alone_and_not_flagged(lesson):
    """A student who answered one exercise the way most of the class did (the issue's 1.00 against everyone)."""
    bodies = {name: ("return x * x", cube) for name, (_, cube) in HONEST.items()}
    pairs = scores(lesson, {**bodies, "one": ("return x * x", STUB)})
    with_one = [p for pair, p in pairs.items() if "one" in pair]
    assert len(with_one) == len(HONEST) and all(p.exercises == 1 for p in with_one)
    assert max(p.similarity for p in pairs.values()) < similarity.THRESHOLD / 4


def test_the_benchmark_finds_every_copy_without_false_alarms():
    """benchmarks/similarity.py's classes of lessons 01 and 05 (see its docstring) at the report's threshold."""
    for name, (lesson, texts, copied) in benchmark.classes().items():
        result = benchmark.measure(lesson, texts, copied)
        assert result["copies"] and not result["misses"] and not result["false_alarms"], (name, result)


def test_a_notebook_saved_by_colab_is_read_like_any_other():
    key = rebuild.load_key(ROOT / "solutions" / "01_rnn_basics.ipynb")
    student = notebook.make_student(ROOT / "solutions" / "01_rnn_basics.ipynb")
    text = benchmark.submission(student, benchmark.key_answers(key))
    saved = benchmark.colab_saved(text)
    assert '"metadata": {\n    "id": ' in saved and '"colab"' in saved and '"id": "rnn-forward"' not in saved
    plain = similarity.answers(text, key)
    assert sorted(plain) == ["rnn-forward", "rnn-shape"]
    assert similarity.answers(saved, key) == plain


def test_a_crafted_submission_stays_within_the_budget(lesson):
    key, student = lesson
    huge = "y = [" + "1, " * 100_000 + "]\nreturn x * x"  # 300 kB
    nested = "return " + "(" * 5_000 + "x" + ")" * 5_000
    broken = 'value = """never closed\n' + "x * x\n" * 50_000
    texts = {"huge": answered(student, huge, nested), "broken": answered(student, broken, huge),
             **{name: answered(student, *bodies) for name, bodies in HONEST.items()}}
    start = time.monotonic()
    written = {name: similarity.answers(text, key) for name, text in texts.items()}
    comparison = similarity.compare(written)
    assert time.monotonic() - start < 30
    assert all(len(a.source) <= similarity.MAX_ANSWER_CHARS for a in written["huge"].values())
    assert comparison.cut == ["broken", "huge"] and len(comparison.pairs) == 45
    report = similarity.markdown(comparison, key.lesson, len(texts))
    assert "compared on their beginning only: broken, huge." in report
    late = similarity.compare(written, seconds=0)
    assert late.pairs == [] and late.not_read == sorted(texts)
    assert "time budget of 0 s: 0 pair(s) not compared, submissions not read: ada, ben," in similarity.markdown(
        late, key.lesson, len(texts))


def test_names_and_code_from_a_submission_are_escaped_in_the_report(lesson):
    key, student = lesson
    body = 's = "```` </pre> <img src=x onerror=alert(1)>\\x1b[31m"\nreturn x * x if s else x * x * x * 1'
    code = similarity.answers(answered(student, body.replace("\\x1b", "\x1b"), body), key)
    names = ["<img src=x onerror=alert(1)>", "a|b\n# heading", "\x1b[2J*bold* [link](http://x)\u202e"]
    others = {name: similarity.answers(answered(student, *bodies), key) for name, bodies in HONEST.items()}
    comparison = similarity.compare({**others, **{name: code for name in names}})
    report = similarity.markdown(comparison, key.lesson, len(names) + len(others))
    assert "3 pair(s) at or above the threshold" in report  # the three identical answers, their code shown
    outside = re.sub(r"`````text\n.*?\n`````", "", report, flags=re.S)
    assert "`````text" in report and "````" not in outside
    assert not re.search(r"(?<!\\)<", outside) and "\n# heading" not in report
    assert "\x1b" not in report and "\u202e" not in report
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in outside and "a\\|b \\# heading" in outside
    assert "\\*bold\\* \\[link\\]\\(http://x\\)" in outside
