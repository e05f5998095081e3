"""The student release: a git repository of its own with what students need and none of the answers.

nbgrader's source -> release split, as files: the student notebooks (solutions stubbed, hidden
tests removed, badges and setup cell pointing at the published student repository), the
helpers, the data manifest with the small data files, the runtime requirements, a README, and
the course website (`site/`) with the GitHub Pages workflow that publishes it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from course_tools import config, notebook

RELEASED_FILES = (
    "model_utils.py",
    "requirements-runtime.txt",
    "course_tools/install_missing.py",
    "course_tools/handin.py",
    "data/manifest.json",
    "data/README.md",
    "data/sunspots_monthly.dat",
)
# Who commits the release when git knows no identity here.
COMMITTER = {"GIT_AUTHOR_NAME": "Sequence models course", "GIT_AUTHOR_EMAIL": "course@localhost",
             "GIT_COMMITTER_NAME": "Sequence models course", "GIT_COMMITTER_EMAIL": "course@localhost"}

README = """# Sequence models with TensorFlow/Keras: student notebooks

Five lessons, in order. Each runs top to bottom in Google Colab or on your own machine;
fill in the exercises, and the check after each one tells you what is right or wrong.

| lesson | open |
|---|---|
{rows}

## In Colab
Click a lesson's badge. The notebook's first cell (setup) fetches this repository next to the
notebook and installs only the packages Colab lacks; Colab keeps its own TensorFlow. Files a
lesson writes (lesson 05's `submission.csv` and saved model) go to `build/runs/` in the course
folder, in Colab `/content/sequence-models-course/build/runs/`: download them from the file
browser on the left before the runtime is recycled.

## On your own machine
With Python 3.11, 3.12 or 3.13:

```bash
python -m venv .venv
.venv/bin/python -m pip install -r requirements-runtime.txt jupyterlab   # Windows: .venv\\Scripts\\python
.venv/bin/jupyter lab
```

## Where the data comes from
See `data/README.md`: monthly sunspots ship in `data/`; IMDB reviews are downloaded from their
public address on first use and verified by checksum; the digits come with scikit-learn; the
disaster tweets of lesson 05 come from Kaggle, which needs a login (the lesson says what to do).
Set `COURSE_DATA_DIR` to a folder that already holds the files to work offline.
"""


def lesson_title(nb) -> str:
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    return first.source.splitlines()[0].lstrip("# ").strip()


def write_release(out: Path, repo: str = config.GITHUB_REPO, branch: str = config.BRANCH,
                  root: Path = config.ROOT) -> Path:
    """Write the student repository into the new folder `out`, committed on `branch`."""
    from course_tools import site  # imported here: nbconvert, which the Gradescope image's grader lacks

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: name a new one for the release.")
    if out.resolve().is_relative_to(root.resolve() / "solutions"):
        raise ValueError(f"{out} is inside solutions/: name a folder outside it.")
    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if not solutions:
        raise ValueError(f"{root / 'solutions'}: no lesson notebooks to release.")
    notebooks = {path.name: notebook.make_student(path, repo, branch) for path in solutions}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".release-", dir=out.parent))
    staging.chmod(0o755)
    try:
        for relative in RELEASED_FILES:
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, staging / relative)
        (staging / "notebooks").mkdir()
        rows = []
        for name, nb in notebooks.items():
            notebook.write(nb, staging / "notebooks" / name)
            badge = config.colab_url(f"notebooks/{name}", repo, branch)
            rows.append(f"| [{lesson_title(nb)}](notebooks/{name}) | "
                        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({badge}) |")
        site.build(staging / "site", repo, branch, root)  # published by the workflow below
        (staging / ".github" / "workflows").mkdir(parents=True)
        (staging / ".github" / "workflows" / "pages.yml").write_text(site.pages_workflow(branch), encoding="utf-8")
        (staging / "README.md").write_text(README.format(rows="\n".join(rows)), encoding="utf-8")
        (staging / ".gitignore").write_text(".venv/\n__pycache__/\n.ipynb_checkpoints/\n")
        known = subprocess.run(["git", "config", "user.email"], capture_output=True).returncode == 0
        environment = os.environ if known else {**COMMITTER, **os.environ}
        for command in (["init", "--quiet", "--initial-branch", branch], ["add", "--all"],
                        ["commit", "--quiet", "--message", "Student release of the sequence-models course"]):
            subprocess.run(["git", "-C", str(staging), *command], check=True, env=environment)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
