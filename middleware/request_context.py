"""What the middleware reads from a request's headers, read once per distinct header set.

A client sends the same headers on every request: the same pass, cookies, ``Accept`` and user
agent.  Decoding them, finding the candidate passes and working out which headers carry a gate
credential (the app behind must never see one) cost more than the rest of a paid request's
decision, so the result is kept by the exact header list it was read from.  It is a pure
function of that list: a hit is exactly what a fresh read would give, and nothing about the
client's standing (pass validity, binding, budget, blocks) is kept here; the gatekeeper decides
every request anew from the ``Visitor`` built from it.

Bounded twice: header sets over ``MEMO_HEADER_BYTES`` are read every time (never kept), and at
most ``MEMO_SIZE`` sets are kept, the oldest dropped first, so the memory is capped at about
``MEMO_SIZE * MEMO_HEADER_BYTES`` whatever clients send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gate.decisions import Visitor
from middleware.negotiate import Flavor, negotiate
from middleware.render import SCHEME

__all__ = [
    "API_KEY_HEADER",
    "MEMO_HEADER_BYTES",
    "MEMO_SIZE",
    "RequestContext",
    "RequestContexts",
    "gate_credential",
]

API_KEY_HEADER = "gate-key"  # clients with an API key send it here; it never reaches the app
_API_KEY_BYTES = API_KEY_HEADER.encode()
_SCHEME_BYTES = SCHEME.lower().encode()

MEMO_SIZE = 4_096
MEMO_HEADER_BYTES = 4_096

RawHeaders = Sequence[tuple[bytes, bytes]]
HeaderKey = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The header-derived part of a ``Visitor``, plus what the app behind may see."""

    forwarded_for: tuple[str, ...]
    tokens: tuple[str, ...]
    human: bool
    host: str
    headers: dict[str, str]  # shared by every request with these headers: read, never written
    api_key: str | None
    flavor: Flavor
    # The headers without the gate's credentials (None: nothing to drop).  Copied per request:
    # an app may change its scope's header list in place.
    stripped: tuple[tuple[bytes, bytes], ...] | None
    size: int  # header bytes, names and values (for the limits of GateSettings)
    signed: bool  # Signature-Input present: a bot's signature to verify (Web Bot Auth)

    def visitor(self, path: str, peer: str | None, method: str) -> Visitor:
        return Visitor(
            path,
            peer,
            self.forwarded_for,
            self.tokens,
            self.human,
            method,
            self.host,
            self.headers,
            None,
            self.api_key,
        )


class RequestContexts:
    """Reads request headers into ``RequestContext``s, keeping the recent ones (see above)."""

    def __init__(self, cookie_name: str) -> None:
        self.cookie_name = cookie_name
        self._cookie_marker = f"{cookie_name}=".encode()
        self._cookie_bytes = cookie_name.encode()
        self._memo: dict[HeaderKey, RequestContext] = {}

    def known(self, raw: RawHeaders) -> tuple[HeaderKey, RequestContext | None]:
        """The memo's key for ``raw`` and its context, if one is kept."""
        key = tuple(raw)
        return key, self._memo.get(key)

    def read(self, key: HeaderKey, size: int) -> RequestContext:
        """Read the headers ``key`` (from ``known``) of ``size`` bytes, and keep the result
        when they are small enough."""
        context = self._read(key, size)
        if size <= MEMO_HEADER_BYTES:
            if len(self._memo) >= MEMO_SIZE:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = context
        return context

    def _read(self, raw: RawHeaders, size: int) -> RequestContext:
        """One pass over the headers: the facts rules look at, the candidate passes, and the
        flavour an answer of the gate's own takes."""
        headers: dict[str, str] = {}
        authorization: bytes | None = None
        cookies: list[str] = []
        forwarded: list[str] = []
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if name == "authorization":
                authorization = raw_value
            elif name == "cookie":
                cookies.append(value)
            elif name == "x-forwarded-for":
                forwarded.append(value)
        tokens: list[str] = []
        if authorization is not None and (token := gate_credential(authorization)) is not None:
            tokens.append(token)  # an empty one too: refused as invalid, not taken as missing
        for header in cookies:
            tokens.extend(_cookie_values(header, self.cookie_name))
        flavor = negotiate(headers.get("accept"))
        return RequestContext(
            forwarded_for=tuple(forwarded),
            tokens=tuple(tokens),
            human=flavor == "html",
            host=headers.get("host", ""),
            headers=headers,
            api_key=headers.get(API_KEY_HEADER),
            flavor=flavor,
            stripped=self._stripped(raw),
            size=size,
            signed="signature-input" in headers,
        )

    def _stripped(self, raw: RawHeaders) -> tuple[tuple[bytes, bytes], ...] | None:
        """``raw`` without the gate's Authorization header, its cookie and the API key header;
        None when there is nothing to drop."""
        marker = self._cookie_marker
        if not any(
            (name == b"authorization" and gate_credential(value) is not None)
            or (name == b"cookie" and marker in value)
            or name == _API_KEY_BYTES
            for name, value in raw
        ):
            return None
        kept: list[tuple[bytes, bytes]] = []
        for name, value in raw:
            if name == b"authorization" and gate_credential(value) is not None:
                continue
            if name == _API_KEY_BYTES:
                continue
            if name == b"cookie" and marker in value:
                value = _drop_cookie(value, self._cookie_bytes)
                if not value:
                    continue
            kept.append((name, value))
        return tuple(kept)


def gate_credential(authorization: bytes) -> str | None:
    """The pass in an ``Authorization: ReasoningGate <pass>`` value ("" when the scheme comes
    alone: servers strip the trailing space), or None for another scheme."""
    scheme, _, rest = authorization.strip().partition(b" ")
    if scheme.lower() != _SCHEME_BYTES:
        return None
    return rest.decode("latin-1").strip()


def _cookie_values(header: str, cookie_name: str) -> list[str]:
    # Several cookies of one name (set for different paths) may arrive; http.cookies keeps only
    # one, so split by hand.  An empty value is kept: it is a pass that was presented, and
    # refused as invalid.
    values: list[str] = []
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == cookie_name:
            values.append(value.strip('"'))
    return values


def _drop_cookie(header: bytes, name: bytes) -> bytes:
    parts = [part.strip() for part in header.split(b";")]
    return b"; ".join(part for part in parts if part and part.partition(b"=")[0] != name)
