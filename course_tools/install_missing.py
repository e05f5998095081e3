"""Install the lessons' pinned packages that are missing here (the setup cell runs this in Colab).

Packages already present are left alone, whatever their version, so Colab keeps its own
TensorFlow, NumPy and friends. With no argument it installs what every lesson needs; a lesson
that alone needs a package names it (`install_missing.py gensim`). Runs without any
third-party import.
"""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent.parent / "requirements-runtime.txt"
LESSON_ONLY = "lesson"  # a pin whose comment starts so is installed by its lesson only
# A requirement is satisfied by any of these distributions.
TENSORFLOW = ("tensorflow-cpu", "tensorflow", "tensorflow-gpu")
EQUIVALENT = {"tensorflow-cpu": TENSORFLOW, "tensorflow": TENSORFLOW}
ATTEMPTS = 3  # a download cut off by the network is worth another try


def missing_requirements(requirements: Path, names: tuple[str, ...] = ()) -> list[str]:
    """The pins of `requirements` whose package is not installed: the shared ones, or `names`."""
    missing, known = [], set()
    for line in requirements.read_text().splitlines():
        pin, _, comment = line.partition("#")
        pin = pin.strip()
        if not pin:
            continue
        name = re.split(r"[=<>!~;\s\[]", pin, maxsplit=1)[0]
        known.add(name)
        wanted = name in names if names else not comment.strip().startswith(LESSON_ONLY)
        if wanted and not any(_installed(candidate) for candidate in EQUIVALENT.get(name, (name,))):
            missing.append(pin)
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not pinned in {requirements}.")
    return missing


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def main(names: list[str]) -> int:
    missing = missing_requirements(RUNTIME, tuple(names))
    if not missing:
        print("All course packages are installed.")
        return 0
    print("Installing:", " ".join(missing), flush=True)
    for attempt in range(1, ATTEMPTS + 1):
        code = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--timeout", "60", *missing]).returncode
        if code == 0 or attempt == ATTEMPTS:
            return code
        print(f"pip failed (exit code {code}); trying again ({attempt + 1} of {ATTEMPTS})", flush=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
