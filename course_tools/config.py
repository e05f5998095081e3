"""Where the course lives: one repository address, used by the setup cell and the badges."""
from pathlib import Path

GITHUB_REPO = "sequence-models-course/sequence-models-course"
BRANCH = "main"

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"

# Size budgets for committed notebooks, in bytes.
SOLUTION_BUDGET = 1_500_000
STUDENT_BUDGET = 150_000


def repo_url(repo: str = GITHUB_REPO) -> str:
    """The clone address of a GitHub repository named owner/name."""
    return f"https://github.com/{repo}.git"


def colab_url(relative_path: str, repo: str = GITHUB_REPO, branch: str = BRANCH) -> str:
    """The Colab address of a notebook in a repository, e.g. notebooks/01_rnn_basics.ipynb."""
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/{relative_path}"
