"""The pinned environment, the Makefile's everyday targets and CI's test command."""
import re

import yaml

from conftest import ROOT


REQUIREMENTS = ("requirements-runtime.txt", "requirements.txt")
PIN = r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*(; [a-z_]+ [=!]= \"[A-Za-z0-9_]+\"( (and|or) [a-z_]+ [=!]= \"[A-Za-z0-9_]+\")*)?"


def requirement_lines(name):
    return [line.partition("#")[0].strip() for line in (ROOT / name).read_text().splitlines()
            if line.partition("#")[0].strip()]


def test_environment_yml_installs_the_pip_requirements():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-r requirements.txt"]
    assert "python=3.11" in environment["dependencies"]


def test_tooling_includes_the_runtime_and_every_requirement_is_pinned_exactly():
    assert requirement_lines("requirements.txt")[0] == "-r requirements-runtime.txt"
    for name in REQUIREMENTS:
        for line in requirement_lines(name):
            assert line.startswith("-r ") or re.fullmatch(PIN, line), f"{name}: {line}"


def test_the_runtime_holds_no_developer_tooling():
    runtime = {line.split("==")[0] for line in requirement_lines("requirements-runtime.txt")}
    tooling = {line.split("==")[0] for line in requirement_lines("requirements.txt")[1:]}
    assert tooling and not runtime & tooling
    assert not runtime & {"jupyterlab", "notebook", "papermill", "nbval", "pytest", "nbclient"}


def test_the_makefile_has_the_everyday_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("course", "test", "smoke", "student", "check", "refresh", "measurements"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


def test_ci_runs_make_test_with_the_offline_data():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "../shared/data" in ci and "COURSE_DATA_DIR" in ci
