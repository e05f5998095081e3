"""Where the course lives: one repository address, used by the setup cell and the badges."""
from pathlib import Path

GITHUB_REPO = "sequence-models-course/sequence-models-course"
BRANCH = "main"
REPO_URL = f"https://github.com/{GITHUB_REPO}.git"

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"

# Size budgets for committed notebooks, in bytes.
SOLUTION_BUDGET = 1_500_000
STUDENT_BUDGET = 150_000


def colab_url(relative_path: str) -> str:
    """The Colab address of a notebook in the repository, e.g. notebooks/01_rnn_basics.ipynb."""
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/{relative_path}"
