"""Which engine serves a model: the fast one where it can, transformers' otherwise."""

from __future__ import annotations

import logging
from typing import Any

from puzzles.worker.engine import ContinuousBatchingBackend
from puzzles.worker.model import LoadedModel
from puzzles.worker.options import EngineOptions

log = logging.getLogger("gate.worker")

ENGINES = ("fast", "transformers")


def create_backend(loaded: LoadedModel, options: EngineOptions) -> Any:
    """The backend ``options.engine`` names; a model the fast engine cannot run gets the
    transformers engine, with a log line saying why."""
    if options.engine not in ENGINES:
        raise ValueError(f"unknown engine {options.engine!r}; choose one of {', '.join(ENGINES)}")
    if options.engine == "fast":
        from puzzles.worker.runner import supported

        why = supported(loaded.model)
        if why is None:
            from puzzles.worker.fast import FastBackend

            return FastBackend(loaded, options)
        log.warning("the fast engine cannot run %s (%s): using transformers'", loaded.model_id, why)
    return ContinuousBatchingBackend(loaded, options.for_device(loaded.device))
