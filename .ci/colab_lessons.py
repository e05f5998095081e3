"""Run each solution notebook as a Colab student would: alone in an empty folder, in the smoke profile.

Run with the Python of a venv pinned to Colab's runtime (see colab_runtime.sh): the kernel is that
venv's, the setup cell clones the student release named by COURSE_REPO and installs what is
missing. Needs only what Colab has (nbformat, nbclient, ipykernel). Exits non-zero when a lesson fails,
shows TensorFlow's C++ log lines, or a cell that draws a diagram (mu.draw_cell) shows no image.
"""
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_tools.notebook import tf_log_lines  # noqa: E402


def smoke_copy(path: Path):
    """The notebook without outputs, with PROFILE = "smoke" after its parameters cell (as papermill does)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell('PROFILE = "smoke"'))
    return nb


def run(path: Path, timeout: int) -> str | None:
    """Execute one lesson in a fresh empty folder; None when it passed, else what went wrong."""
    nb = smoke_copy(path)
    with tempfile.TemporaryDirectory(prefix=f"colab-{path.stem}-") as folder:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": folder}})
        try:
            client.execute()
        except CellExecutionError as error:
            return str(error).strip().splitlines()[-1]
    logged = tf_log_lines(nb)
    if logged:
        return f"{len(logged)} TensorFlow log lines in its outputs, first: {logged[0]}"
    undrawn = [c.id for c in nb.cells if "mu.draw_cell(" in c.source
               and not any("image/png" in o.get("data", {}) for o in c.outputs)]
    return f"no diagram shown by cell(s) {', '.join(undrawn)}" if undrawn else None


def main(solutions: list[str]) -> int:
    failures = []
    for name in solutions:
        start = time.perf_counter()
        problem = run(Path(name), timeout=900)
        print(f"{Path(name).stem}: {'ok' if problem is None else 'FAILED: ' + problem} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        if problem is not None:
            failures.append(Path(name).stem)
    print(f"Colab runtime: {len(solutions) - len(failures)} of {len(solutions)} lessons ok")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
