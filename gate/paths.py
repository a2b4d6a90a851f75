"""Path semantics: the one place that decides which path a request is priced by.

The gate prices the path it sees, but the resource is chosen by the upstream, and upstreams read
paths differently: servlet containers (Tomcat, Jetty) drop ``;`` path parameters from every
segment, IIS and Windows file systems ignore case, trailing dots and spaces and ``::$DATA`` stream
suffixes, some frameworks fold Unicode compatibility forms.  A spelling the gate prices as free
that such an upstream reads as a priced page is a free pass.

``PathSemantics`` names the foldings the operator's upstream is known to make.  For a request
path it gives the *reading* to price (the path with those foldings applied and dot segments
resolved) and every *other reading* some upstream could make (each combination of the foldings
not declared).  The gatekeeper prices the reading and requires every other reading to meet the
same rule; if one does not, the request is refused (``AmbiguousPath``, 400) before anything is
counted or charged.  So ``strict`` (no foldings declared) is safe in front of any upstream, and
declaring the upstream's foldings only lets more spellings through, priced as the upstream reads
them.  Spellings no folding can resolve (control characters, backslashes, 8.3 short names such as
``ARTICL~1``) are refused whatever is declared.

``check_target`` is the second half, for adapters that hand the *raw* request target on (the
reverse proxy, forward auth): a raw path whose decoding or dot resolution is not the path the gate
priced is refused, since the upstream would decode or resolve it itself.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from gate.errors import AmbiguousPath, ConfigError
from gate.rules import normalize_path

__all__ = ["FOLDINGS", "PRESETS", "PathSemantics", "check_target"]

# What may make a path read differently somewhere; a path without any of it has one reading.
_SPECIAL = re.compile(r"[A-Z;:\\~\x00-\x1f\x7f]|[. ](?=/|$)|[^\x00-\x7f]")
_REFUSED = re.compile(r"[\\\x00-\x1f\x7f]|~\d")  # backslash, controls, 8.3 short names
_PARAMETERS = re.compile(r";[^/]*")
_STREAM = re.compile(r"::\$[^/]*")  # NTFS alternate data stream suffix ('::$DATA')
# Percent-encoded '.', '/', '\' and '%': decoding them once more (or not at all) changes the path.
_AMBIGUOUS_ESCAPE = re.compile(rb"%(?:2[eEfF5]|5[cC])")
# A dot segment with path parameters ('/..;x/'): servlet containers resolve it like '/../'.
_DOT_PARAMETER = re.compile(r"/\.{1,2};")


def _strip_parameters(path: str) -> str:
    return _PARAMETERS.sub("", path)


def _strip_trailing(path: str) -> str:
    segments = []
    for segment in _STREAM.sub("", path).split("/"):
        if segment in (".", ".."):
            segments.append(segment)
            continue
        stripped = segment.rstrip(". ")
        if segment and not stripped:  # '...' or ' ': no upstream agrees what that names
            raise AmbiguousPath("a path segment of only dots or spaces")
        segments.append(stripped)
    return "/".join(segments)


def _lower(path: str) -> str:
    return path.lower()


def _compatibility(path: str) -> str:
    return unicodedata.normalize("NFKC", path)


# The foldings in the order an upstream applies them: parameters go before dot segments are
# resolved (Tomcat reads '/..;x/' as '/../'), case and compatibility forms after.
FOLDINGS: dict[str, Callable[[str], str]] = {
    "matrix-parameters": _strip_parameters,
    "trailing-dots": _strip_trailing,
    "case-insensitive": _lower,
    "unicode-compatibility": _compatibility,
}
_BEFORE_NORMALISING = ("matrix-parameters", "trailing-dots")
PRESETS: dict[str, tuple[str, ...]] = {
    "strict": (),
    "tomcat": ("matrix-parameters",),
    "iis": ("case-insensitive", "trailing-dots"),
}


@dataclass(frozen=True, slots=True)
class PathSemantics:
    """The foldings the upstream makes (names of ``FOLDINGS``); none: ``strict``."""

    foldings: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.foldings - FOLDINGS.keys()
        if unknown:
            raise ConfigError(f"unknown path folding(s): {', '.join(sorted(unknown))}")

    @classmethod
    def parse(cls, text: str) -> PathSemantics:
        """``strict``, a preset (``tomcat``, ``iis``) or comma-separated foldings."""
        names: set[str] = set()
        for item in (part.strip().lower() for part in text.split(",")):
            if not item:
                continue
            if item in PRESETS:
                names.update(PRESETS[item])
            elif item in FOLDINGS:
                names.add(item)
            else:
                choices = ", ".join([*PRESETS, *FOLDINGS])
                raise ConfigError(
                    f"GATE_PATH_SEMANTICS: unknown value {item!r} (expected {choices})"
                )
        return cls(frozenset(names))

    def describe(self) -> str:
        return ",".join(name for name in FOLDINGS if name in self.foldings) or "strict"

    def readings(self, path: str) -> tuple[str, tuple[str, ...]]:
        """(the reading to price, the other readings that must meet the same rule).

        Raises ``AmbiguousPath`` for a spelling no folding resolves.  The common path (ASCII,
        lower case, no parameters or trailing dots) costs one regular-expression scan.
        """
        if not _SPECIAL.search(path):
            return normalize_path(path), ()
        if _REFUSED.search(path):
            raise AmbiguousPath("a path with backslashes, control characters or a short name")
        priced = self._fold(path, self.foldings)
        undeclared = [name for name in FOLDINGS if name not in self.foldings]
        others: set[str] = set()
        for size in range(1, len(undeclared) + 1):
            for extra in itertools.combinations(undeclared, size):
                others.add(self._fold(path, self.foldings.union(extra)))
        others.discard(priced)
        return priced, tuple(sorted(others))

    @staticmethod
    def _fold(path: str, names: frozenset[str]) -> str:
        for name in _BEFORE_NORMALISING:
            if name in names:
                path = FOLDINGS[name](path)
        path = normalize_path(path)
        for name in FOLDINGS:
            if name in names and name not in _BEFORE_NORMALISING:
                path = FOLDINGS[name](path)
        return path


STRICT = PathSemantics()


def check_target(raw: bytes | None, path: str) -> bytes:
    """The raw path to hand on, or ``AmbiguousPath`` when the upstream could read it as another.

    ``path`` is the decoded path the gate priced (the ASGI ``path``); ``raw`` the bytes received
    (``raw_path``, rebuilt from ``path`` when the server gave none).  Refused: a raw path that is
    not absolute, holds a backslash or a percent-encoded '.', '/', '\\' or '%', does not decode to
    ``path``, or has dot segments or '//' (the upstream would resolve them itself).
    """
    if raw is None:
        try:
            raw = path.encode("ascii")
        except UnicodeEncodeError as exc:
            raise AmbiguousPath("a non-ASCII path without its raw form") from exc
    if (
        not raw.startswith(b"/")
        or b"\\" in raw
        or _AMBIGUOUS_ESCAPE.search(raw)
        or normalize_path(path) != path
        or _REFUSED.search(path)
        or _DOT_PARAMETER.search(path)
    ):
        raise AmbiguousPath("a raw path the upstream could decode or resolve differently")
    try:  # the server's decoded path must be what the raw one means, or the gate saw another
        decoded = unquote(raw.decode("ascii"), errors="strict")
    except UnicodeError as exc:
        raise AmbiguousPath("a raw path that is not ASCII or not UTF-8 once decoded") from exc
    if decoded != path:
        raise AmbiguousPath("a raw path that does not decode to the path priced")
    return raw
