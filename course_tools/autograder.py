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
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from course_tools import config, grading, release, scoring
from course_tools.files import write_atomic
from course_tools.notebook import read
from course_tools.rebuild import load_key, reference_path

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's
GRADER_PACKAGES = ("ipykernel", "nbformat", "nbclient", "papermill")  # pinned in requirements.txt

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive  # no package may stop at a prompt (tzdata would)
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
bash /autograder/source/install_data.sh
"""

INSTALL_DATA = """#!/usr/bin/env bash
# setup.sh runs this once: the lesson's data files into $root/data, readable by the sandbox's user and
# verified against data/manifest.json (sha256); those not in the zip are downloaded here, never per submission.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
mkdir -p "$root/data"
if [ -d "$root/source/datasets" ]; then cp -R "$root/source/datasets/." "$root/data/"; fi
cd "$root/source"
{fetch}chmod -R a+rX "$root/data"
"""
FETCH_DATA = """COURSE_DATA_DIR="$root/data" COURSE_CACHE_DIR="$root/data" "$root/venv/bin/python" -c \\
    'import sys, model_utils; [model_utils.dataset_path(name) for name in sys.argv[1:]]' {names}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: it grades $root/submission/ and writes
# $root/results/results.json. The root is /autograder unless AUTOGRADER_ROOT names another.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$root/source"
if [ -z "${{COURSE_SANDBOX_USER:-}}" ]; then  # submissions run as course-student, whom setup.sh makes
    if id course-student >/dev/null 2>&1; then
        export COURSE_SANDBOX_USER=course-student
    else
        echo "run_autograder: no user course-student here (setup.sh makes it); submissions run as nobody" >&2
        export COURSE_SANDBOX_USER=nobody
    fi
fi
export COURSE_DATA_DIR="$root/data"  # filled by install_data.sh
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


def lesson_data(solution: Path, data: Path | None) -> tuple[dict[str, Path], list[str]]:
    """The data files a lesson reads: those to put in the zip (from the folder `data`, verified), and the names of
    those setup.sh downloads. ValueError for a file that `data` lacks and nobody can download."""
    import model_utils

    source = "\n".join(cell.source for cell in read(solution).cells)
    manifest, bundled, names = model_utils.load_manifest(), {}, []
    for loader, files in model_utils.LOADER_FILES.items():
        if f"{loader}(" not in source:
            continue
        for choices in files:
            local = next((name for name in choices if data is not None and (data / name).is_file()), None)
            downloadable = next((name for name in choices if manifest[name]["urls"]), None)
            if local is not None:
                try:
                    bundled[local] = model_utils.verified(data / local, local, manifest[local])
                except model_utils.DataError as error:
                    raise ValueError(str(error)) from None
            elif downloadable is None:
                raise ValueError(f"{solution.stem} reads {choices[0]}, which cannot be downloaded "
                                 f"({manifest[choices[0]]['source']}): name a folder holding it with DATA=<dir> "
                                 f"(--data) to put it in the zip{'' if data is None else f' ({data} lacks it)'}.")
            names.append(local or downloadable)
    return bundled, names


def build(lesson: str, out: Path, visibility: str = "after_published", timeout: float = scoring.DEFAULT_TIMEOUT,
          memory_mb: int = scoring.DEFAULT_MEMORY_MB, solutions: Path | None = None, unsandboxed: bool = False,
          data: Path | None = None) -> Path:
    """Write `<lesson>-autograder.zip` into the folder `out`, with the lesson's data files from `data` (or
    setup.sh's downloads of them); return its path."""
    from course_tools.runner import select

    check_visibility(visibility)
    scoring.check_limits(scoring.Limits(timeout, memory_mb))
    matching = select([lesson], solutions)
    if len(matching) != 1:
        raise ValueError(f"{lesson!r} names {len(matching)} lessons: {', '.join(p.stem for p in matching)}.")
    solution = matching[0]
    load_key(solution)  # refuses a lesson without graded tests or reference values
    bundled, data_names = lesson_data(solution, data)
    target = out / f"{solution.stem}-autograder.zip"
    if target.exists():
        raise ValueError(f"{target} exists: name another folder (nothing is overwritten).")
    files = {relative: (config.ROOT / relative).read_bytes() for relative in release.RELEASED_FILES}
    files.update({f"course_tools/{path.name}": path.read_bytes()
                  for path in sorted((config.ROOT / "course_tools").glob("*.py"))})
    files[f"solutions/{solution.name}"] = solution.read_bytes()
    files[f"solutions/{reference_path(solution).name}"] = reference_path(solution).read_bytes()
    files["requirements.txt"] = requirements().encode()
    fetch = FETCH_DATA.format(names=" ".join(map(shlex.quote, data_names))) if data_names else ""
    scripts = {"setup.sh": SETUP_SH, "install_data.sh": INSTALL_DATA.format(fetch=fetch),
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
            for name, content in sorted(files.items()):
                archive.writestr(name, content)
            for name, path in sorted(bundled.items()):
                archive.write(path, f"datasets/{name}")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


VISIBLE_PASSED = "The check in your notebook passed. The points come from the hidden tests."
VISIBLE_FAILED = "The check in your notebook did not pass (or did not run): run its cell to read what differs."


def results(result: scoring.Result, key, visibility: str, seconds: float) -> dict:
    """Gradescope's results.json for one graded submission.

    Per graded cell, one Gradescope test with its points and message, `visibility` when the cell holds
    hidden tests; before it, when the cell has a visible check (exercise_check), a test of 0 points
    that says at once whether that check passed. The overall output says why the run stopped and what
    the grader noted, never a hidden test's outcome.
    """
    overview = [scoring.problem_sentence(result) if result.problem else "Every cell of the notebook ran.",
                *[f"- {note}" for note in result.notes]]
    tests = []
    for test in key.tests:
        if test.visible_checks:
            passed = result.visible.get(test.grade_id, False)
            tests.append({"name": f"{test.grade_id}: the check in your notebook", "score": 0, "max_score": 0,
                          "status": "passed" if passed else "failed",
                          "output": VISIBLE_PASSED if passed else VISIBLE_FAILED, "visibility": "visible"})
        tests.append({"name": test.grade_id,
                      "score": result.tests[test.grade_id],
                      "max_score": test.points,
                      "status": "failed" if result.feedback[test.grade_id] else "passed",
                      "output": scoring.redact(result.feedback[test.grade_id], key),
                      "visibility": visibility if any(check.hidden for check in test.checks) else "visible"})
    return {
        "score": result.score,
        "execution_time": round(seconds),
        "output": scoring.redact("\n\n".join(overview), key),
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def simulate(zip_path: Path, root: Path) -> Path:
    """Lay out `root` as Gradescope lays out /autograder from the zip: source/, run_autograder, venv (this
    Python's, in place of setup.sh's) and data/ from install_data.sh; to try a zip on this machine."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "venv").symlink_to(sys.prefix)
    subprocess.run(["bash", str(root / "source" / "install_data.sh")], env={**os.environ, "AUTOGRADER_ROOT": str(root)},
                   check=True)
    return root


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
