#!/usr/bin/env bash
# The lessons in Colab's runtime: a Python 3.13 venv pinned to Colab's published packages, a student
# release, and every solution notebook run alone in an empty folder, its setup cell cloning that
# release. Usage: .ci/colab_runtime.sh [--venv-only] PIP_FREEZE [WORK_DIR]; needs the course's .venv for
# `release`. --venv-only builds the venv (WORK_DIR/colab) and stops: CI builds it while its other installs
# run, and the next call uses it as long as no lesson has run in it and PIP_FREEZE's pins are the same.
set -euo pipefail
cd "$(dirname "$0")/.."
venv_only=false
if [ "${1:-}" = "--venv-only" ]; then venv_only=true; shift; fi
if $venv_only && [ $# -lt 2 ]; then echo "usage: .ci/colab_runtime.sh --venv-only PIP_FREEZE WORK_DIR"; exit 2; fi
freeze="$1"
if [ $# -ge 2 ]; then work="$2"; mkdir -p "$work"; else work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
python313=""
for candidate in python3.13 $(command -v pyenv >/dev/null && pyenv versions --bare | grep -E '^3\.13(\.|$)' |
                             sed "s|^|$(pyenv root)/versions/|; s|$|/bin/python3.13|"); do
  if "$candidate" -c "" 2>/dev/null; then python313="$candidate"; break; fi  # a pyenv shim may not run
done
[ -n "$python313" ] || { echo "colab_runtime: no Python 3.13 found (pyenv install 3.13)"; exit 2; }

# What Colab preinstalls that the lessons or the notebook client use, at Colab's versions.
COLAB_PACKAGES="tensorflow keras numpy pandas jinja2 scipy scikit-learn matplotlib seaborn wordcloud kagglehub ipykernel nbclient"
grep -E '^[A-Za-z0-9_.-]+==' "$freeze" > "$work/constraints.txt"
# A venv no lesson has run in yet holds the file `fresh`: what it was built from.
stamp="$("$python313" -V) $COLAB_PACKAGES $(sha256sum < "$work/constraints.txt")"
if [ -f "$work/colab/fresh" ] && [ "$(cat "$work/colab/fresh")" = "$stamp" ]; then
  echo "Colab venv ($("$work/colab/bin/python" -V), $(grep -E '^tensorflow==' "$freeze")) in $work/colab used again"
else
  start=$SECONDS
  rm -rf "$work/colab"
  "$python313" -m venv "$work/colab"
  "$work/colab/bin/python" -m pip install --quiet --disable-pip-version-check -c "$work/constraints.txt" $COLAB_PACKAGES
  echo "$stamp" > "$work/colab/fresh"
  echo "Colab venv ($("$work/colab/bin/python" -V), $(grep -E '^tensorflow==' "$freeze")) built in $((SECONDS - start)) s"
fi
if $venv_only; then exit 0; fi
rm "$work/colab/fresh"  # the lessons install what they need (gensim) into it

rm -rf "$work/release"
.venv/bin/python -m course_tools release "$work/release" --repo colab-check/course
env -u PYTHONPATH PYDEVD_DISABLE_FILE_VALIDATION=1 COURSE_REPO="$work/release" MPLBACKEND=module://matplotlib_inline.backend_inline \
  "$work/colab/bin/python" .ci/colab_lessons.py solutions/[0-9][0-9]_*.ipynb

# The lessons may install runtime packages (gensim), never developer tooling.
for tool in pytest papermill nbval jupyterlab pytest-xdist pytest-timeout; do
  if "$work/colab/bin/python" -m pip show --quiet "$tool" >/dev/null 2>&1; then
    echo "colab_runtime: the lessons installed developer tooling ($tool) into the runtime"; exit 1
  fi
done
"$work/colab/bin/python" -m pip show --quiet gensim >/dev/null || { echo "colab_runtime: lesson 05 did not install gensim in the Colab venv"; exit 1; }
echo "Colab runtime: no developer tooling installed; gensim installed by lesson 05"
