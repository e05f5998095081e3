"""The pinned environment and the README's promises."""
import re

import yaml

from conftest import ROOT


def pins(lines):
    return {line.split("==")[0].strip().lower(): line.split("==")[1].strip()
            for line in lines if "==" in line and not line.strip().startswith("#")}


def test_environment_yml_and_requirements_pin_the_same_packages():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert requirements, "requirements.txt pins nothing"
    assert pins(pip_section) == requirements
    assert "python=3.11" in environment["dependencies"]


def test_every_requirement_is_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", line.strip()), line


def test_readme_opens_with_the_course_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1).split("\n")
    commands = [line.split("#")[0].strip() for line in first_block if line.strip()]
    assert commands[:2] == ["make course", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("course", "test", "smoke", "student", "check", "refresh"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


def test_ci_runs_the_readme_test_command_with_the_offline_data():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "../shared/data" in ci and "COURSE_DATA_DIR" in ci
