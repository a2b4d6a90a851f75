"""LLM backend configuration: which OpenAI-compatible endpoints the pool may call.

The file named by ``GATE_LLM_BACKENDS`` is a YAML (or JSON, which YAML reads too) list of entries::

    - name: gpu-0
      base_url: http://10.0.0.5:8000/v1
      model: Qwen/Qwen2.5-7B-Instruct
      api_key_env: GPU0_KEY        # or api_key: ...; defaults to "none" (local servers ignore it)
      max_in_flight: 8
      capabilities: [chat, json]   # "json": honours response_format json_schema (vLLM, SGLang)
      timeout: 60                  # seconds for connect and for each read of the stream
      kind: openai                 # or gate-worker: the pool also polls {root}/queue for its load

A mapping with a single ``backends`` key holding that list is accepted too.  Every mistake is a
``ConfigError`` that names the entry (position and name) and the field, because this file is
edited by hand and read at start-up, where a vague message costs the most.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gate.errors import ConfigError
from gate.settings import setting, variable

ENV_VAR = variable("llm_backends")
# A closed set, so that a typo such as "jsno" fails at start-up instead of silently disabling
# structured output on that backend.
KNOWN_CAPABILITIES = frozenset({"chat", "json"})
KNOWN_KINDS = frozenset({"openai", "gate-worker"})
_FIELDS = frozenset(
    {
        "name",
        "base_url",
        "model",
        "api_key",
        "api_key_env",
        "max_in_flight",
        "capabilities",
        "timeout",
        "kind",
    }
)
_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# Builds the error for one field of the entry being parsed: fail(field, problem).
_Fail = Callable[[str, str], ConfigError]


@dataclass(frozen=True, slots=True)
class Backend:
    """One OpenAI-compatible endpoint serving one model."""

    name: str
    base_url: str
    model: str
    api_key: str = field(default="none", repr=False)  # never printed in logs or tracebacks
    max_in_flight: int = 4
    capabilities: frozenset[str] = frozenset({"chat"})
    timeout: float = 60.0
    kind: str = "openai"  # "gate-worker": a `gate worker`, whose queue the pool reads

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def queue_url(self) -> str:
        """A gate worker's queue endpoint: ``/queue`` at the server root (beside ``/v1``)."""
        root = self.base_url.removesuffix("/v1")
        return f"{root}/queue"


def load_backends(
    text_or_path: str | Path, *, env: Mapping[str, str] | None = None
) -> tuple[Backend, ...]:
    """Parse backend entries from YAML/JSON text or from a file holding it.

    A ``Path``, or a one-line string naming an existing file (or ending in .yaml/.yml/.json), is
    read as a file; any other string is the configuration itself.  ``env`` resolves
    ``api_key_env`` (defaults to no environment, so tests never read the real one by accident).
    """
    source, text = _read_source(text_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"backends"}:
        data = data["backends"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{source}: expected a non-empty list of backends, got {_kind(data)}")
    backends = tuple(_parse_entry(i, entry, env or {}) for i, entry in enumerate(data, start=1))
    seen: set[str] = set()
    for backend in backends:
        if backend.name in seen:
            raise ConfigError(f"{source}: backend name {backend.name!r} is used twice")
        seen.add(backend.name)
    return backends


def backends_from_env(env: Mapping[str, str]) -> tuple[Backend, ...]:
    """Backends from the file named by ``GATE_LLM_BACKENDS``; none when the variable is unset."""
    path = str(setting("llm_backends", env)).strip()
    if not path:
        return ()
    if not Path(path).is_file():
        raise ConfigError(f"{ENV_VAR}: no such file: {path}")
    return load_backends(Path(path), env=env)


def _read_source(text_or_path: str | Path) -> tuple[str, str]:
    if isinstance(text_or_path, str) and "\n" not in text_or_path:
        candidate = Path(text_or_path)
        if candidate.is_file() or text_or_path.endswith(_CONFIG_SUFFIXES):
            text_or_path = candidate
    if isinstance(text_or_path, Path):
        try:
            return str(text_or_path), text_or_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read LLM backends file {text_or_path}: {exc}") from exc
    return "LLM backends", text_or_path


def _parse_entry(position: int, entry: object, env: Mapping[str, str]) -> Backend:
    label = f"LLM backend #{position}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: expected a mapping, got {_kind(entry)}")
    if isinstance(entry.get("name"), str) and entry["name"].strip():
        label = f"{label} ({entry['name']!r})"

    def fail(field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{label}: field {field_name!r} {problem}")

    unknown = sorted(str(key) for key in entry if key not in _FIELDS)
    if unknown:
        raise fail(unknown[0], f"is not known (known: {', '.join(sorted(_FIELDS))})")
    for required in ("name", "base_url", "model"):
        value = entry.get(required)
        if not isinstance(value, str) or not value.strip():
            raise fail(required, f"must be a non-empty string, got {_kind(value)}")
    base_url = entry["base_url"].strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise fail("base_url", f"must start with http:// or https://, got {base_url!r}")
    return Backend(
        name=entry["name"].strip(),
        base_url=base_url,
        model=entry["model"].strip(),
        api_key=_api_key(entry, env, fail),
        max_in_flight=_positive_int(entry.get("max_in_flight", 4), "max_in_flight", fail),
        capabilities=_capabilities(entry.get("capabilities", ["chat"]), fail),
        timeout=_positive_number(entry.get("timeout", 60.0), "timeout", fail),
        kind=_kind_of(entry.get("kind", "openai"), fail),
    )


def _kind_of(value: object, fail: _Fail) -> str:
    if value not in KNOWN_KINDS:
        known = ", ".join(sorted(KNOWN_KINDS))
        raise fail("kind", f"must be one of {known}, got {value!r}")
    return str(value)


def _api_key(entry: dict[str, Any], env: Mapping[str, str], fail: _Fail) -> str:
    if "api_key" in entry and "api_key_env" in entry:
        raise fail("api_key_env", "cannot be combined with 'api_key'")
    if "api_key_env" in entry:
        name = entry["api_key_env"]
        if not isinstance(name, str) or not name:
            raise fail("api_key_env", f"must name an environment variable, got {_kind(name)}")
        if not env.get(name):
            raise fail("api_key_env", f"names {name!r}, which is unset or empty")
        return env[name]
    key = entry.get("api_key", "none")
    if not isinstance(key, str) or not key:
        raise fail("api_key", f"must be a non-empty string, got {_kind(key)}")
    return key


def _positive_int(value: object, name: str, fail: _Fail) -> int:
    # bool is an int subclass; "max_in_flight: yes" is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(name, f"must be a positive integer, got {value!r}")
    return value


def _positive_number(value: object, name: str, fail: _Fail) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise fail(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def _capabilities(value: object, fail: _Fail) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail("capabilities", f"must be a list of strings, got {value!r}")
    unknown = sorted(set(value) - KNOWN_CAPABILITIES)
    if unknown:
        known = ", ".join(sorted(KNOWN_CAPABILITIES))
        raise fail("capabilities", f"has unknown {unknown[0]!r} (known: {known})")
    return frozenset(value)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
