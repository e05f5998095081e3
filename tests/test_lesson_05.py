"""Lesson 05: the capstone's main path stays short, and its stored verdict on the test part agrees with its interval."""
import re

import nbformat

from course_tools import config

SOLUTION = config.ROOT / "solutions" / "05_disaster_tweets.ipynb"


def cells():
    return nbformat.read(SOLUTION, as_version=4).cells


def appendix_start(notebook_cells):
    return next(i for i, cell in enumerate(notebook_cells)
                if cell.cell_type == "markdown" and cell.source.startswith("## Appendix"))


def test_main_path_is_at_most_40_cells_and_the_extras_are_in_the_appendix():
    notebook_cells = cells()
    start = appendix_start(notebook_cells)
    assert start <= 40, f"the path from the data to the submission has {start} cells"
    main = "\n".join(cell.source for cell in notebook_cells[:start])
    appendix = "\n".join(cell.source for cell in notebook_cells[start:])
    for extra in ("WordCloud(", "USE_GLOVE = False", "def build_keyword_model", "### E. The shipped files"):
        assert extra in appendix and extra not in main, extra
    assert "submission.csv" in main and "def choose_threshold" in main and "def clean_tweets" in main


def test_stored_verdict_follows_the_bootstrap_interval():
    source = next(cell for cell in cells() if cell.get("id") == "tweets-45")
    text = "".join(output.get("text", "") for output in source.outputs if output.get("output_type") == "stream")
    low, high = (float(v) for v in re.search(r"interval \[([-+.\d]+), ([-+.\d]+)\]", text).groups())
    verdict = re.search(r"the final model (beats|ties with|is worse than) the tuned baseline", text).group(1)
    assert verdict == ("beats" if low > 0 else "is worse than" if high < 0 else "ties with"), text
