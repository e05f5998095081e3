"""Install the course's pinned packages that are missing here (used by the setup cell in Colab).

Packages already present are left alone, whatever their version, so Colab keeps its own
TensorFlow, NumPy and friends. Runs without any third-party import.
"""
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# A requirement is satisfied by any of these distributions.
EQUIVALENT = {"tensorflow-cpu": ("tensorflow-cpu", "tensorflow", "tensorflow-gpu")}


def missing_requirements(requirements: Path) -> list[str]:
    """The pinned lines of `requirements` whose package is not installed."""
    missing = []
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = line.split("==")[0].strip()
        candidates = EQUIVALENT.get(name, (name,))
        if not any(_installed(candidate) for candidate in candidates):
            missing.append(line)
    return missing


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def main() -> int:
    requirements = Path(__file__).resolve().parent.parent / "requirements.txt"
    missing = missing_requirements(requirements)
    if not missing:
        print("All course packages are installed.")
        return 0
    print("Installing:", " ".join(missing), flush=True)
    return subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
