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

from course_tools import config, lessons, notebook

RELEASED_FILES = (
    "model_utils.py",
    "requirements-runtime.txt",
    "course_tools/install_missing.py",
    "course_tools/handin.py",
    "data/manifest.json",
    "data/sunspots_monthly.dat",
)
# Who commits the release when git knows no identity here.
COMMITTER = {"GIT_AUTHOR_NAME": "Sequence models course", "GIT_AUTHOR_EMAIL": "course@localhost",
             "GIT_COMMITTER_NAME": "Sequence models course", "GIT_COMMITTER_EMAIL": "course@localhost"}

README = """# Sequence models with TensorFlow/Keras: student notebooks

The lessons, in order. Each runs top to bottom in Google Colab or on your own machine;
fill in the exercises, and the check after each one tells you what is right or wrong.

| lesson | open | data | run time, 2-core CPU | Colab |
|---|---|---|---|---|
{rows}

A lesson's run time is the most a whole run with the default settings should take on a 2-core CPU
(Colab's free CPU runtime has 2 cores too). Lesson 05 needs a free Kaggle account (see "Where the
data comes from").

## In Colab
Click a lesson's badge. The notebook's first cell (setup) fetches this repository next to the
notebook and installs only the packages Colab lacks; Colab keeps its own TensorFlow. To keep your
work, choose File > Save a copy in Drive first. Files a lesson writes (lesson 05's `submission.csv`
and saved model) go to `build/runs/` in the course folder, in Colab
`/content/sequence-models-course/build/runs/`: download them from the file browser on the left before
the runtime is recycled.

## On your own machine
With Python 3.11, 3.12 or 3.13:

```bash
python -m venv .venv
.venv/bin/python -m pip install -r requirements-runtime.txt jupyterlab   # Windows: .venv\\Scripts\\python
.venv/bin/jupyter lab
```

## Handing in
1. Run the whole notebook from the top (Colab: Runtime > Restart session and run all; JupyterLab:
   Kernel > Restart Kernel and Run All Cells) and fix what any check reports: the grader runs the
   same checks, and more of its own on other inputs.
2. Download the notebook. In Colab: File > Download > Download .ipynb. Locally: save it (Ctrl+S or
   Cmd+S); the file is `notebooks/NN_name.ipynb`.
3. Hand in that `.ipynb` file, named as it is (for example `01_rnn_basics.ipynb`).

The grader runs your notebook again from a fresh start, on small sizes, and reads only what your
exercise code computes: outputs you saw are not graded, and a notebook that stops with an error
loses the points of every check after it. Please:
- write your code in the exercise cells, where `# YOUR CODE HERE` and `raise NotImplementedError()`
  stand, and keep the names the exercise asks for;
- do not edit the setup cell (the first code cell), the parameters cell (`PROFILE = ...`) or the
  check cells after each exercise: the grader puts back the original of each, so changes there
  are lost;
- leave `PROFILE = "full"` as it is: the grader chooses its own (small) sizes.

## Where the data comes from
See `data/README.md`: monthly sunspots ship in `data/`; IMDB reviews are downloaded on first use;
the digits come with scikit-learn; the disaster tweets of lesson 05 come from Kaggle, which needs
an account.
"""

DATA_README = """# Course data

The lessons find their data themselves; nothing here needs to be downloaded by hand, except for
lesson 05 when Kaggle cannot be reached for you. Every file is checked against the checksum in
`manifest.json`, wherever it comes from.

| data | lesson | where it comes from |
|---|---|---|
| monthly sunspots | 01, 03 | in this folder (`sunspots_monthly.dat`, public domain, from NOAA by way of statsmodels) |
| IMDB reviews (Maas et al. 2011) | 02, 06 | downloaded from Stanford (84 MB) the first time, then kept in `~/.cache/seqcourse/` |
| handwritten digits | 04 | scikit-learn's `load_digits` |
| disaster tweets | 05 | Kaggle's competition "Natural Language Processing with Disaster Tweets" (`nlp-getting-started`) |

Lesson 05, step by step:
1. Make a free account at kaggle.com, open
   https://www.kaggle.com/competitions/nlp-getting-started/rules and accept the rules.
2. Either give the lesson your API token (kaggle.com > Settings > API > Create New Token): in Colab
   add `KAGGLE_USERNAME` and `KAGGLE_KEY` as secrets (the key icon on the left); on your own machine
   save the token as `~/.kaggle/kaggle.json`. The lesson then downloads the tweets itself.
3. Or download them from the competition's Data tab (Download All gives `nlp-getting-started.zip`):
   in Colab, upload that zip as it is (or the three CSV files in it) when the lesson asks; on your own
   machine, put `train.csv`, `test.csv` and `sample_submission.csv` in `~/.cache/seqcourse/disaster_tweets/`.

To work offline, put the files in a folder laid out like the cache (`imdb/aclImdb_v1.tar.gz`,
`disaster_tweets/train.csv`, ...) and set the environment variable `COURSE_DATA_DIR` to it.
"""


def lesson_title(nb) -> str:
    """The title in a lesson notebook's first heading."""
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
            lesson = lessons.by_file(Path(name).stem)
            badge = config.colab_url(lesson.notebook, repo, branch)
            rows.append(f"| {lesson.number}. [{lesson.title}]({lesson.notebook}) | "
                        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({badge}) | "
                        f"{lesson.data} | up to {lesson.budget_min} min | {lesson.colab} |")
        site.build(staging / "site", repo, branch, root)  # published by the workflow below
        (staging / ".github" / "workflows").mkdir(parents=True)
        (staging / ".github" / "workflows" / "pages.yml").write_text(site.pages_workflow(branch), encoding="utf-8")
        (staging / "README.md").write_text(README.format(rows="\n".join(rows)), encoding="utf-8")
        (staging / "data" / "README.md").write_text(DATA_README, encoding="utf-8")
        (staging / ".gitignore").write_text(".venv/\n__pycache__/\n.ipynb_checkpoints/\nbuild/\n")
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
