"""Gradescope: the autograder zip of a lesson, and the grading it runs for each submission.

`build` writes the zip as Gradescope's autograder specification asks, the way otter-grader makes its
own: `setup.sh` and `run_autograder` at its root, with the course helpers, the grading tools and the
lesson's answer key beside them. Gradescope unpacks it into /autograder/source and runs setup.sh
once on its Ubuntu image (a venv with the pinned runtime and the grader's packages); for each
submission it runs run_autograder, which grades /autograder/submission with `make grade`'s rebuild,
limits and scoring (`autograde`) and writes /autograder/results/results.json. AUTOGRADER_ROOT
replaces /autograder, to run the same script on a copy of that layout.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path

from course_tools import config, grading, release, scoring
from course_tools.files import write_atomic
from course_tools.rebuild import load_key, reference_path

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's
GRADER_PACKAGES = ("ipykernel", "nbformat", "nbclient", "papermill")  # pinned in requirements.txt

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
set -euo pipefail
apt-get update
# Python 3.12 on every image: Ubuntu 24.04's own; Ubuntu 22.04 ships 3.10, so there from the deadsnakes archive.
if ! apt-cache show python3.12-venv >/dev/null 2>&1; then
    apt-get install -y software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
fi
apt-get install -y python3.12-venv bubblewrap
# Submissions run as this user, in a bubblewrap sandbox, and cannot read the answer key in source/.
id course-student >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin course-student
chmod -R go-rwx /autograder/source
python3.12 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: it grades $root/submission/ and writes
# $root/results/results.json. The root is /autograder unless AUTOGRADER_ROOT names another.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$root/source"
export COURSE_SANDBOX_USER="${{COURSE_SANDBOX_USER:-course-student}}"  # made by setup.sh
exec "$root/venv/bin/python" -m course_tools autograde {lesson} --root "$root" --hidden-visibility {visibility} \\
    --timeout {timeout:g} --memory-mb {memory_mb}{unsandboxed}
"""


def check_visibility(visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise ValueError(f"--hidden-visibility must be one of {', '.join(VISIBILITIES)} (got {visibility!r}).")


def requirements() -> str:
    """The runtime's pins and the grader's own, taken from the course's requirements files."""
    pins = [line for line in (config.ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.split("==")[0].strip() in GRADER_PACKAGES]
    return "\n".join(["-r requirements-runtime.txt", *pins]) + "\n"


def build(lesson: str, out: Path, visibility: str = "after_published", timeout: float = scoring.DEFAULT_TIMEOUT,
          memory_mb: int = scoring.DEFAULT_MEMORY_MB, solutions: Path | None = None, unsandboxed: bool = False) -> Path:
    """Write `<lesson>-autograder.zip` into the folder `out`; return its path."""
    from course_tools.runner import select

    check_visibility(visibility)
    scoring.check_limits(scoring.Limits(timeout, memory_mb))
    matching = select([lesson], solutions)
    if len(matching) != 1:
        raise ValueError(f"{lesson!r} names {len(matching)} lessons: {', '.join(p.stem for p in matching)}.")
    solution = matching[0]
    load_key(solution)  # refuses a lesson without graded tests or reference values
    target = out / f"{solution.stem}-autograder.zip"
    if target.exists():
        raise ValueError(f"{target} exists: name another folder (nothing is overwritten).")
    files = {relative: (config.ROOT / relative).read_bytes() for relative in release.RELEASED_FILES}
    files.update({f"course_tools/{path.name}": path.read_bytes()
                  for path in sorted((config.ROOT / "course_tools").glob("*.py"))})
    files[f"solutions/{solution.name}"] = solution.read_bytes()
    files[f"solutions/{reference_path(solution).name}"] = reference_path(solution).read_bytes()
    files["requirements.txt"] = requirements().encode()
    scripts = {"setup.sh": SETUP_SH,
               "run_autograder": RUN_AUTOGRADER.format(lesson=solution.stem, visibility=visibility, timeout=timeout,
                                                       memory_mb=memory_mb, unsandboxed=" --unsandboxed" * unsandboxed)}
    out.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=out)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in scripts.items():
                info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
                info.external_attr = (stat.S_IFREG | 0o755) << 16
                archive.writestr(info, text, zipfile.ZIP_DEFLATED)
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def results(result: scoring.Result, key, visibility: str, seconds: float) -> dict:
    """Gradescope's results.json for one graded submission.

    One Gradescope test per graded cell, with its points and message; a cell that holds hidden tests
    gets `visibility`. The overall output says why the run stopped and what the grader noted, never
    a test's outcome, so that it reveals no hidden test.
    """
    overview = [scoring.problem_sentence(result) if result.problem else "Every cell of the notebook ran.",
                *[f"- {note}" for note in result.notes]]
    return {
        "score": result.score,
        "execution_time": round(seconds),
        "output": scoring.redact("\n\n".join(overview), key),
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": [{"name": test.grade_id,
                   "score": result.tests[test.grade_id],
                   "max_score": test.points,
                   "status": "failed" if result.feedback[test.grade_id] else "passed",
                   "output": scoring.redact(result.feedback[test.grade_id], key),
                   "visibility": visibility if any(check.hidden for check in test.checks) else "visible"}
                  for test in key.tests],
    }


def autograde(lesson: str, root: Path, visibility: str = "after_published", timeout: float = scoring.DEFAULT_TIMEOUT,
              memory_mb: int = scoring.DEFAULT_MEMORY_MB, unsandboxed: bool = False) -> dict:
    """Grade `root`/submission/ as `make grade` grades one student; write `root`/results/results.json."""
    from course_tools.runner import select

    check_visibility(visibility)
    start = time.monotonic()
    key = load_key(select([lesson])[0])
    with tempfile.TemporaryDirectory(prefix="autograde-") as work:
        submissions = Path(work) / "submissions"
        submissions.mkdir()
        shutil.copytree(root / "submission", submissions / "submission", symlinks=True)
        [result] = grading.grade(lesson, submissions, Path(work) / "graded", workers=1, timeout=timeout,
                                 memory_mb=memory_mb, unsandboxed=unsandboxed, key=key)
    document = results(result, key, visibility, time.monotonic() - start)
    (root / "results").mkdir(parents=True, exist_ok=True)
    write_atomic(root / "results" / "results.json", json.dumps(document, indent=2) + "\n")
    return document
