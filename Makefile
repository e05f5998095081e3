# Everyday commands of the course. Each bootstraps .venv from requirements.txt when needed.
# The venv is made with the first Python 3.11, 3.12 or 3.13 found (or PYTHON=...): python3.X on
# Linux and macOS, the `py -3.X` launcher on Windows (run make from Git Bash there).
VENV := .venv
ifeq ($(OS),Windows_NT)
VENV_BIN := $(VENV)/Scripts
PYTHON ?= $(firstword $(foreach version,3.11 3.12 3.13,$(shell py -$(version) -c "import sys; print(sys.executable)" 2>/dev/null)))
else
VENV_BIN := $(VENV)/bin
PYTHON ?= $(firstword $(foreach version,3.11 3.12 3.13,$(shell python$(version) -c "" 2>/dev/null && command -v python$(version))))
endif
PY := $(VENV_BIN)/python
# PATH entries are separated by ; in native Windows make, by : elsewhere.
PATH_SEP := $(if $(findstring ;,$(PATH)),;,:)
PROFILE ?= full
LESSONS ?=
export PATH := $(abspath $(VENV_BIN))$(PATH_SEP)$(PATH)

.PHONY: course smoke test check student refresh release grade gradebook autograder clean

$(VENV)/installed: requirements.txt requirements-runtime.txt requirements-site.txt
	@test -x $(PY) || test -n "$(PYTHON)" || { echo "The course needs Python 3.11, 3.12 or 3.13 (python3.11 ... on PATH):" \
		"install one from python.org (Windows: it brings the py launcher), with pyenv (pyenv install 3.12) or conda," \
		"or name it: make PYTHON=/path/to/python"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

course: $(VENV)/installed  ## run every lesson (PROFILE=full|smoke) and write the report
	$(PY) -m course_tools run --profile $(PROFILE) $(LESSONS)

smoke: $(VENV)/installed  ## the same in the fast smoke profile, into build/smoke/
	$(PY) -m course_tools run --profile smoke $(LESSONS)

test: $(VENV)/installed node_modules/.package-lock.json  ## every test, solution notebooks included (smoke profile)
	$(PY) -m pytest

check: $(VENV)/installed  ## everything that can be checked without a notebook, a kernel or a browser (under a minute)
	$(PY) -m course_tools check
	$(PY) -m pytest -m "not notebooks and not kernel"

student: $(VENV)/installed  ## regenerate notebooks/ from solutions/
	$(PY) -m course_tools student

refresh: $(VENV)/installed  ## store the outputs of the last full `make course` in solutions/
	$(PY) -m course_tools refresh $(LESSONS)
	$(PY) -m course_tools student

release: $(VENV)/installed node_modules/.package-lock.json  ## write the student repository: make release OUT=dir [REPO=owner/name] [BRANCH=main]
	@test -n "$(OUT)" || { echo "usage: make release OUT=<new dir> [REPO=owner/name] [BRANCH=main]"; exit 2; }
	$(PY) -m course_tools release "$(OUT)" $(if $(REPO),--repo $(REPO)) $(if $(BRANCH),--branch $(BRANCH))

grade: $(VENV)/installed  ## grade submissions: make grade LESSON=01 SUBMISSIONS=dir OUT=dir [ROSTER=csv ONLY=name WORKERS=n TIMEOUT=s SCHEDULER=tcp://host:8786]
	@test -n "$(LESSON)" -a -n "$(SUBMISSIONS)" -a -n "$(OUT)" || \
		{ echo "usage: make grade LESSON=01 SUBMISSIONS=<dir> OUT=<new dir> [ROSTER=roster.csv] [ONLY=name] [WORKERS=n] [TIMEOUT=s] [SCHEDULER=tcp://host:8786]"; exit 2; }
	$(PY) -m course_tools grade $(LESSON) "$(SUBMISSIONS)" "$(OUT)" $(if $(WORKERS),--workers $(WORKERS)) $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(SCHEDULER),--scheduler "$(SCHEDULER)") $(if $(ROSTER),--roster "$(ROSTER)") $(if $(ONLY),--only "$(ONLY)")

gradebook: $(VENV)/installed  ## join lessons' graded folders: make gradebook GRADED="graded01 graded02" OUT=dir
	@test -n "$(GRADED)" -a -n "$(OUT)" || { echo "usage: make gradebook GRADED=\"<graded dir> <graded dir> ...\" OUT=<dir>"; exit 2; }
	$(PY) -m course_tools gradebook $(GRADED) --out "$(OUT)"

autograder: $(VENV)/installed  ## write a lesson's Gradescope autograder zip: make autograder LESSON=01 OUT=dir [DATA=dir TIMEOUT=s]
	@test -n "$(LESSON)" -a -n "$(OUT)" || { echo "usage: make autograder LESSON=01 OUT=<dir> [DATA=<data dir>] [TIMEOUT=s] [HIDDEN_VISIBILITY=after_published]"; exit 2; }
	$(PY) -m course_tools autograder $(LESSON) "$(OUT)" $(if $(DATA),--data "$(DATA)") $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(HIDDEN_VISIBILITY),--hidden-visibility $(HIDDEN_VISIBILITY))

.PHONY: site site-test
node_modules/.package-lock.json: package.json package-lock.json  # MathJax and axe-core, pinned, for the website
	npm ci --no-audit --no-fund

site: $(VENV)/installed node_modules/.package-lock.json  ## build the course website into build/site/: make site [REPO=owner/name] [HAND_IN="where students hand in"]
	$(PY) -m course_tools.site build/site $(if $(REPO),--repo $(REPO)) $(if $(HAND_IN),--hand-in "$(HAND_IN)")

site-test: $(VENV)/installed node_modules/.package-lock.json  ## build the site, read every page in headless Chromium at phone and laptop sizes, run Lighthouse
	$(PY) -m pytest -n0 tests/test_site.py

.PHONY: measurements benchmarks
measurements: $(VENV)/installed  ## write docs/measurements.md from the runs in build/ (make course, make smoke, make benchmarks)
	$(PY) -m course_tools.measurements

benchmarks: $(VENV)/installed  ## each lesson's (or LESSONS=) grading time and memory, the sandbox's cost and the similarity check's errors, into build/benchmarks/
	mkdir -p build/benchmarks
	$(PY) benchmarks/grading_resources.py $(LESSONS) > build/benchmarks/grading_resources.md.tmp
	mv build/benchmarks/grading_resources.md.tmp build/benchmarks/grading_resources.md
	$(PY) benchmarks/sandbox_overhead.py > build/benchmarks/sandbox_overhead.txt.tmp
	mv build/benchmarks/sandbox_overhead.txt.tmp build/benchmarks/sandbox_overhead.txt
	$(PY) benchmarks/similarity.py > build/benchmarks/similarity.txt.tmp
	mv build/benchmarks/similarity.txt.tmp build/benchmarks/similarity.txt

clean:
	rm -rf build
