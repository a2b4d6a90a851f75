"""The request bookkeeping both engines share, around whatever produces the tokens.

``ModelFrontend`` is the part of a ``Backend`` that only needs the loaded model: the model's
name and context, tokenizing a prompt (chat template or raw text) with the checks that make a
400, refusing sampling a greedy-only engine cannot honour, decoding ids to text, and the end-of-
sequence ids.  ``GenerationStream`` turns the token ids an engine hands over into the events
``generate`` yields: text deltas through ``TextAssembler`` (or one empty delta per token for the
benchmarks), and the final ``Finished`` with its reason.  ``puzzles.worker.engine`` and
``puzzles.worker.fast`` differ only in how tokens are produced and handed over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from puzzles.worker.backend import (
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
from puzzles.worker.options import EngineOptions

if TYPE_CHECKING:
    from puzzles.worker.model import LoadedModel


class ModelFrontend:
    """Tokenizing, validation and decoding for one loaded model (a base of both backends)."""

    def __init__(self, loaded: LoadedModel, options: EngineOptions | None) -> None:
        self._loaded = loaded
        self.options = options or EngineOptions()
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

    async def prepare(self, prompt: Prompt) -> list[int]:
        # Tokenizing a prompt of a few thousand characters takes well under a millisecond.
        return self._tokenize(prompt)

    def validate(self, params: SamplingParams) -> None:
        if params.temperature > 0 and not self.options.sampling:
            raise PromptError("this worker decodes greedily only (started with --no-sampling)")

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
            raise PromptError("the prompt is empty after tokenization")
        if len(ids) >= self.context_length:
            raise PromptError(
                f"the prompt has {len(ids)} tokens; this model's context is {self.context_length}"
            )
        return ids

    def _decode(self, ids: Sequence[int]) -> str:
        return str(
            self._loaded.tokenizer.decode(
                list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
        )

    def stream_tokens(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        *,
        tenant: str | None = None,
        text: bool = True,
        streaming: bool = True,
        trace: Callable[[Any], None] | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """``generate``; with ``text=False`` deltas are empty strings, one per token, and with
        ``streaming=False`` the engine hands over all tokens at the end (benchmarks).  ``trace``
        gets the engine's first output, which times the queue (the benchmark reads it)."""
        raise NotImplementedError

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, *, tenant: str | None = None
    ) -> AsyncIterator[GenerationEvent]:
        """Stream one generation; closing the iterator early cancels it and frees its cache."""
        async for event in self.stream_tokens(prompt_ids, params, tenant=tenant, text=True):
            yield event

    def stream(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        limit: int,
        *,
        text: bool,
        token_ids: list[int] | None = None,
    ) -> GenerationStream:
        """The events of one generation of at most ``limit`` tokens (``token_ids``: collect the
        ids there)."""
        return GenerationStream(
            TextAssembler(self._decode, params.stop) if text else None,
            len(prompt_ids),
            limit,
            self._eos,
            token_ids,
        )


class GenerationStream:
    """One generation's token ids in, ``GenerationEvent``s out.

    ``token_ids`` is every id handed over (up to a stop sequence); ``stopped`` says a stop
    sequence cut the text, and the caller then ends the engine's side early.
    """

    def __init__(
        self,
        assembler: TextAssembler | None,
        prompt_tokens: int,
        limit: int,
        eos: set[int],
        token_ids: list[int] | None = None,
    ) -> None:
        self._assembler = assembler
        self._prompt_tokens = prompt_tokens
        self._limit = limit
        self._eos = eos
        self.token_ids: list[int] = token_ids if token_ids is not None else []

    @property
    def stopped(self) -> bool:
        return self._assembler is not None and self._assembler.stopped

    def add(self, tokens: Iterable[int]) -> list[TextDelta]:
        """New tokens; the text that can go out now (one empty delta per token without text)."""
        deltas: list[TextDelta] = []
        for token in tokens:
            self.token_ids.append(token)
            if self._assembler is None:
                deltas.append(TextDelta(""))
                continue
            piece = self._assembler.add(token)
            if piece:
                deltas.append(TextDelta(piece))
            if self._assembler.stopped:
                break
        return deltas

    def finish(self) -> list[GenerationEvent]:
        """The generation ended (the engine finished it, or a stop sequence did): what is held
        back, then ``Finished``."""
        events: list[GenerationEvent] = []
        ids = self._assembler.token_ids if self._assembler is not None else self.token_ids
        reason: FinishReason = "stop"
        if not self.stopped:
            rest = self._assembler.flush() if self._assembler is not None else ""
            if rest:
                events.append(TextDelta(rest))
            if len(ids) >= self._limit and not (ids and ids[-1] in self._eos):
                reason = "length"
        events.append(Finished(reason, self._prompt_tokens, len(ids)))
        return events
