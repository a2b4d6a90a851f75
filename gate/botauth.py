"""Web Bot Auth: recognise known bots by their HTTP Message Signatures (RFC 9421, Ed25519 only).

A verified signature lets the gate price a request as the bot that signed it instead of as an
anonymous visitor.  Keys come from a local directory of JWK Sets configured by the operator; this
module never fetches keys from the network.

What the specifications ask, and what this module does about it
---------------------------------------------------------------
Sources: draft-meunier-web-bot-auth-architecture-00..04, its Working Group successor
draft-ietf-webbotauth-httpsig-protocol (the latest editor's copy), the companion directory draft
draft-meunier-http-message-signatures-directory, RFC 9421 (HTTP Message Signatures), RFC 8941 /
RFC 9651 (Structured Field Values), RFC 7638 (JWK thumbprint) and RFC 8037 (OKP keys).

* Headers.  ``Signature-Input`` and ``Signature`` (RFC 9421 §4) are SF Dictionaries keyed by a
  signature label: ``Signature-Input`` maps it to an Inner List of covered component identifiers
  with the signature parameters; ``Signature`` maps it to a Byte Sequence.  ``Signature-Agent``
  names where the signer publishes its keys: now an SF Dictionary (``agent="https://..."``), in
  earlier drafts a bare SF String (``"https://..."``); both forms are accepted here.
* Parameters.  ``created`` and ``expires`` (Integers, seconds), ``keyid`` (the base64url RFC 7638
  SHA-256 thumbprint of the JWK; for Ed25519 RFC 8037 Appendix A.3 applies), ``tag`` =
  ``"web-bot-auth"``; ``alg`` is optional and must be ``"ed25519"`` when present.  The drafts leave
  ``nonce`` to RFC 9421 §7.2.2; the gate requires it by default because it enforces single use.
  The drafts RECOMMEND ``expires - created`` of at most 24 hours.
* Covered components.  ``@authority`` (or ``@target-uri``, which contains it) MUST be covered, and
  the ``Signature-Agent`` member as ``"signature-agent";key="<member>"`` (legacy form: plain
  ``"signature-agent"``).  ``@method``, ``@path``, ``@query`` are optional narrowing.  Supported
  here: ``@method @authority @scheme @target-uri @request-target @path @query``, plain header
  fields, and the ``key`` parameter for Dictionary header fields (RFC 9421 §2.1.2).  Other
  component parameters (``sf``, ``bs``, ``req``, ``tr``, ``name`` / ``@query-param``) are refused.
* Signature base (RFC 9421 §2.5).  One line per covered component, in the covered order:
  ``<identifier serialised as an SF String with its parameters>: <value>``, then a final line
  ``"@signature-params": <the Inner List re-serialised with its parameters>``; lines are joined by
  ``\\n`` with no trailing newline.  Header values are trimmed of surrounding whitespace; a
  Dictionary member selected with ``key`` is the re-serialised member value.
* Multiple signatures.  A request may carry several labels; only those tagged ``web-bot-auth`` are
  considered, each verified on its own, and the first that verifies wins.
* Replay.  A valid signature can be replayed until ``expires``; the drafts defer to RFC 9421
  §7.2.2.  ``verify`` is pure, so single use is the caller's job: claim ``replay_key(sig)``
  atomically in the gate's store until ``sig.valid_until`` (``check_replay`` does exactly that with
  one ``Incr``).

Structured Fields are parsed and serialised by ``http-sf`` (``gate.structured_fields`` maps its
values onto ``Item`` / ``InnerList`` / ``Token``); the RFC 9651 additions (Date, Display String) are
rejected as malformed.

Why this module is over 400 lines: it is one protocol, read top to bottom against the drafts
above (keys, signature base, verification, replay, and the signer the tests and bench use), and
every check refers to the section that asks for it; split, a reviewer would hold four files open
to check one signature.  The Structured Fields parser, the part that was generic, is ``http-sf``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gate.errors import ConfigError, GateError
from gate.keys import b64url, b64url_decode
from gate.store.base import Store
from gate.store.ops import Incr
from gate.structured_fields import (
    InnerList,
    Item,
    Member,
    Params,
    Token,
    parse_dictionary,
    parse_item,
    serialize_bare,
    serialize_member,
)

__all__ = [
    "TAG",
    "BotAuthError",
    "BotKey",
    "BotSignature",
    "InnerList",
    "Item",
    "KeyDirectory",
    "Token",
    "check_replay",
    "jwk_thumbprint",
    "make_nonce",
    "parse_dictionary",
    "parse_item",
    "public_key_thumbprint",
    "replay_key",
    "serialize_member",
    "sign_request",
    "signature_base",
    "verify",
]

TAG = "web-bot-auth"
ALG = "ed25519"

Reason = Literal[
    "missing",  # no Signature / Signature-Input header
    "malformed",  # headers or parameters do not parse, or have the wrong types
    "wrong_tag",  # no signature is tagged web-bot-auth
    "unsupported_alg",  # alg is present and not ed25519
    "missing_parameter",  # created, expires, keyid or nonce absent
    "missing_component",  # @authority / signature-agent not covered, or a covered part is absent
    "unsupported_component",  # a derived component or parameter this module does not implement
    "unknown_key",  # keyid is not in the directory, or the key is outside its nbf/exp
    "not_yet_valid",  # created lies in the future
    "expired",  # past expires (or too old when expires is absent and allowed)
    "window_too_long",  # expires - created exceeds the accepted window
    "bad_signature",  # the signature does not verify
    "replayed",  # the nonce was already used (raised by check_replay)
]


class BotAuthError(GateError):
    """A Web Bot Auth signature was refused; ``reason`` says why (stable, for logs and metrics)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"web bot auth: {reason}" + (f" ({detail})" if detail else ""))
        self.reason: Reason = reason


# --------------------------------------------------------------------------------------------
# Keys: JWK thumbprints (RFC 7638 / RFC 8037 A.3) and the configured key directory
# --------------------------------------------------------------------------------------------

# RFC 9421 Appendix B.1.4 "test-key-ed25519", used by the RFC and the Web Bot Auth test vectors.
# The drafts say verifiers SHOULD reject known test keys, so loading it needs allow_test_keys.
_TEST_KEY_THUMBPRINTS = frozenset({"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"})


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (base64url) of an OKP JWK: the required members crv, kty and x
    in lexicographic order, no whitespace (RFC 8037 Appendix A.3)."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_key_thumbprint(public_key: Ed25519PublicKey) -> str:
    """The Web Bot Auth ``keyid`` of an Ed25519 public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)})


@dataclass(frozen=True, slots=True)
class BotKey:
    keyid: str  # RFC 7638 thumbprint, computed here, never taken from the file's "kid"
    name: str  # the bot the operator says this key belongs to
    public_key: Ed25519PublicKey
    not_before: float | None = None  # JWK "nbf", as in the directory draft's example
    not_after: float | None = None  # JWK "exp"

    def usable_at(self, now: float) -> bool:
        too_early = self.not_before is not None and now < self.not_before
        too_late = self.not_after is not None and now >= self.not_after
        return not (too_early or too_late)


def _jwk_time(jwk: Mapping[str, Any], member: str, where: str) -> float | None:
    value = jwk.get(member)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: '{member}' must be a number of seconds since the epoch")
    return float(value)


def _load_jwk(jwk: Any, *, name: str, where: str, allow_test_keys: bool) -> BotKey:
    if not isinstance(jwk, dict):
        raise ConfigError(f"{where}: a key must be a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ConfigError(
            f"{where}: only Ed25519 keys (kty OKP, crv Ed25519) are supported, "
            f"got kty={jwk.get('kty')!r} crv={jwk.get('crv')!r}"
        )
    if "d" in jwk:
        # A bot's private key has no business in the gate's directory of public keys.
        raise ConfigError(f"{where}: holds a private key ('d'); publish only the public key")
    if jwk.get("alg") not in (None, "EdDSA", "Ed25519", "ed25519"):
        raise ConfigError(f"{where}: 'alg' {jwk.get('alg')!r} does not name Ed25519")
    if jwk.get("use") not in (None, "sig"):
        raise ConfigError(f"{where}: 'use' must be 'sig'")
    x = jwk.get("x")
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{where}: 'x' must be 32 bytes of unpadded base64url")
    keyid = jwk_thumbprint(jwk)
    if keyid in _TEST_KEY_THUMBPRINTS and not allow_test_keys:
        raise ConfigError(f"{where}: is a published test key (RFC 9421 B.1.4); refused")
    return BotKey(
        keyid=keyid,
        name=name,
        public_key=Ed25519PublicKey.from_public_bytes(raw),
        not_before=_jwk_time(jwk, "nbf", where),
        not_after=_jwk_time(jwk, "exp", where),
    )


class KeyDirectory:
    """Known bots' Ed25519 public keys, indexed by RFC 7638 thumbprint (the ``keyid`` they sign
    with).  Built once at start-up; every problem is a ``ConfigError`` then, never per request."""

    def __init__(self, keys: Iterable[BotKey] = ()) -> None:
        self._keys: dict[str, BotKey] = {}
        for key in keys:
            known = self._keys.get(key.keyid)
            if known is not None and known.name != key.name:
                raise ConfigError(
                    f"key {key.keyid} is claimed by both {known.name!r} and {key.name!r}"
                )
            self._keys[key.keyid] = key

    @classmethod
    def from_jwks(
        cls, jwks: Any, *, name: str, source: str = "JWKS", allow_test_keys: bool = False
    ) -> KeyDirectory:
        return cls(_keys_of(jwks, name=name, source=source, allow_test_keys=allow_test_keys))

    @classmethod
    def load(cls, directory: str | Path, *, allow_test_keys: bool = False) -> KeyDirectory:
        """Read every ``*.json`` JWK Set in ``directory``.  A file's bot name is its ``"name"``
        member, else the file stem (``openai-search.json`` -> ``openai-search``)."""
        root = Path(directory)
        if not root.is_dir():
            raise ConfigError(f"bot key directory {root} does not exist or is not a directory")
        keys: list[BotKey] = []
        for path in sorted(root.glob("*.json")):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"{path}: not a readable JSON file ({exc})") from exc
            name = document.get("name", path.stem) if isinstance(document, dict) else path.stem
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{path}: 'name' must be a non-empty string")
            keys += _keys_of(
                document, name=name.strip(), source=str(path), allow_test_keys=allow_test_keys
            )
        return cls(keys)

    def get(self, keyid: str) -> BotKey | None:
        return self._keys.get(keyid)

    def __contains__(self, keyid: object) -> bool:
        return keyid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[BotKey]:
        return iter(self._keys.values())


def _keys_of(jwks: Any, *, name: str, source: str, allow_test_keys: bool) -> list[BotKey]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ConfigError(f'{source}: expected a JWK Set, {{"keys": [...]}}')
    return [
        _load_jwk(jwk, name=name, where=f"{source} key #{i}", allow_test_keys=allow_test_keys)
        for i, jwk in enumerate(jwks["keys"])
    ]


# --------------------------------------------------------------------------------------------
# Message components and the signature base (RFC 9421 §2)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    """The parts of a request a signature can cover, already normalised as §2.2 wants."""

    method: str
    scheme: str
    authority: str
    path: str
    query: str
    fields: dict[str, str]  # lower-cased names


_DEFAULT_PORTS = {"https": ":443", "http": ":80"}


def _request(
    method: str, authority: str, path: str, query: str, headers: Mapping[str, str], scheme: str
) -> _Request:
    scheme = scheme.lower()
    host = authority.strip().lower()  # §2.2.3: lower-cased, default port omitted
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    fields: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        # §2.1: several instances of a field are combined with ", ".
        fields[lowered] = f"{fields[lowered]}, {value}" if lowered in fields else value
    return _Request(
        method=method,
        scheme=scheme,
        authority=host,
        path=path or "/",  # §2.2.6: an empty path is "/"
        query=query.removeprefix("?"),
        fields=fields,
    )


def _derived(name: str, request: _Request) -> str:
    query = f"?{request.query}"  # §2.2.7: an absent query is "?" alone
    values = {
        "@method": request.method,
        "@authority": request.authority,
        "@scheme": request.scheme,
        "@path": request.path,
        "@query": query,
        "@request-target": request.path + (query if request.query else ""),
        "@target-uri": f"{request.scheme}://{request.authority}{request.path}"
        + (query if request.query else ""),
    }
    if name not in values:
        raise BotAuthError("unsupported_component", name)
    return values[name]


def _field(name: str, params: Params, request: _Request) -> str:
    raw = request.fields.get(name)
    if raw is None:
        raise BotAuthError("missing_component", f"{name} header absent")
    if "\r" in raw or "\n" in raw:
        raise BotAuthError("malformed", f"{name} holds a line break")
    value = raw.strip(" \t")
    if not params:
        return value
    member_key = params.get("key")
    if set(params) != {"key"} or not isinstance(member_key, str) or isinstance(member_key, Token):
        raise BotAuthError("unsupported_component", f"{name} parameters {sorted(params)}")
    try:
        members = parse_dictionary(value)
    except ValueError as exc:
        raise BotAuthError("malformed", f"{name} is not a dictionary") from exc
    if member_key not in members:
        raise BotAuthError("missing_component", f"{name} has no member {member_key!r}")
    # §2.1.2: the component value is the member value re-serialised with its parameters.
    return serialize_member(members[member_key])


def _component_value(component: Item, request: _Request) -> str:
    name = component.value
    if not isinstance(name, str) or isinstance(name, Token) or name != name.lower() or not name:
        raise BotAuthError("malformed", "component identifiers are lower-case strings")
    if name.startswith("@"):
        if component.params:
            raise BotAuthError("unsupported_component", f"{name} with parameters")
        return _derived(name, request)
    return _field(name, component.params, request)


def _signature_base(covered: InnerList, request: _Request) -> bytes:
    lines: list[str] = []
    seen: set[str] = set()
    for component in covered.items:
        identifier = serialize_member(component)
        if identifier in seen:  # §2.5: a component may be covered only once
            raise BotAuthError("malformed", f"{identifier} covered twice")
        seen.add(identifier)
        lines.append(f"{identifier}: {_component_value(component, request)}")
    lines.append(f'"@signature-params": {serialize_member(covered)}')
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:  # obs-text in a covered field: not signable as sent
        raise BotAuthError("malformed", "covered value is not ASCII") from exc


def signature_base(
    covered: InnerList,
    *,
    method: str,
    authority: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    scheme: str = "https",
) -> bytes:
    """The RFC 9421 §2.5 signature base for a ``Signature-Input`` member (an Inner List)."""
    request = _request(method, authority, path, query, headers or {}, scheme)
    return _signature_base(covered, request)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BotSignature:
    """A verified Web Bot Auth signature: who signed, and what the replay check needs."""

    name: str  # the bot, as named in the key directory
    keyid: str
    label: str
    nonce: str | None
    created: int
    expires: int | None
    agent: str | None  # the covered Signature-Agent URL, if any (informational: not resolved)
    components: tuple[str, ...]  # covered component identifiers, serialised
    signature: bytes
    verified_at: float
    valid_until: float  # the last moment verify() would accept this signature


_MAX_FIELD_LENGTH = 16_384  # bounds parsing work on hostile headers
_MAX_CANDIDATES = 4  # bounds signature checks per request


def verify(
    method: str,
    authority: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    directory: KeyDirectory,
    *,
    now: float,
    max_age: float = 300,
    max_window: float = 86_400,
    clock_skew: float = 30,
    scheme: str = "https",
    require_expires: bool = True,
    require_nonce: bool = True,
) -> BotSignature:
    """Verify the request's Web Bot Auth signature against ``directory``.

    ``authority`` is the Host (or :authority) the request was sent to, ``path`` the raw path
    as sent (not percent-decoded), ``query`` the raw query without ``?``.  ``headers`` must give
    each field's combined value (several instances joined with ", ").

    Freshness: ``created`` may be at most ``clock_skew`` seconds ahead; ``expires`` must not have
    passed (with the same skew) and may be at most ``max_window`` after ``created``.  Without
    ``expires`` (only when ``require_expires`` is off) ``created`` must be within ``max_age``.

    Returns the verified ``BotSignature`` or raises ``BotAuthError``.  Replay is NOT checked here:
    the caller must claim ``replay_key(sig)`` (see ``check_replay``).
    """
    request = _request(method, authority, path, query, headers, scheme)
    inputs, signatures = _signature_fields(request.fields)
    candidates = [
        (label, member)
        for label, member in inputs.items()
        if isinstance(member, InnerList) and member.params.get("tag") == TAG
    ][:_MAX_CANDIDATES]
    if not candidates:
        raise BotAuthError("wrong_tag", f"no signature is tagged {TAG!r}")
    policy = _Policy(now, max_age, max_window, clock_skew, require_expires, require_nonce)
    first_error: BotAuthError | None = None
    for label, covered in candidates:
        try:
            return _verify_one(label, covered, signatures, request, directory, policy)
        except BotAuthError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


@dataclass(frozen=True, slots=True)
class _Policy:
    now: float
    max_age: float
    max_window: float
    clock_skew: float
    require_expires: bool
    require_nonce: bool


def _signature_fields(fields: dict[str, str]) -> tuple[dict[str, Member], dict[str, Member]]:
    raw_input, raw_signature = fields.get("signature-input"), fields.get("signature")
    if not raw_input or not raw_signature:
        raise BotAuthError("missing", "Signature and Signature-Input are both required")
    if max(len(raw_input), len(raw_signature)) > _MAX_FIELD_LENGTH:
        raise BotAuthError("malformed", "signature header too long")
    try:
        return parse_dictionary(raw_input), parse_dictionary(raw_signature)
    except ValueError as exc:
        raise BotAuthError("malformed", str(exc)) from exc


def _param(params: Params, name: str, kind: type, *, required: bool) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise BotAuthError("missing_parameter", name)
        return None
    # RFC 9421 §2.3: created/expires are Integers, keyid/alg/nonce/tag are Strings (not Tokens).
    wrong_int = kind is int and (isinstance(value, bool) or not isinstance(value, int))
    wrong_str = kind is str and (not isinstance(value, str) or isinstance(value, Token))
    if wrong_int or wrong_str:
        raise BotAuthError("malformed", f"parameter {name} has the wrong type")
    return value


def _check_times(created: int, expires: int | None, policy: _Policy) -> float:
    """Freshness checks; returns the last moment the signature is acceptable."""
    if created > policy.now + policy.clock_skew:
        raise BotAuthError("not_yet_valid", "created is in the future")
    if expires is None:
        valid_until = created + policy.max_age + policy.clock_skew
    else:
        if expires <= created:
            raise BotAuthError("malformed", "expires is not after created")
        if expires - created > policy.max_window:
            raise BotAuthError("window_too_long", f"{expires - created}s > {policy.max_window}s")
        valid_until = expires + policy.clock_skew
    if policy.now >= valid_until:
        raise BotAuthError("expired")
    return valid_until


def _check_coverage(covered: InnerList, request: _Request) -> None:
    names = {item.value for item in covered.items}
    if not names & {"@authority", "@target-uri"}:
        raise BotAuthError("missing_component", "@authority is not covered")
    if "signature-agent" in request.fields and "signature-agent" not in names:
        raise BotAuthError("missing_component", "signature-agent is present but not covered")


def _covered_agent(covered: InnerList, request: _Request) -> str | None:
    """The URL of the covered Signature-Agent (dictionary member or legacy string), if any."""
    for item in covered.items:
        if item.value == "signature-agent":
            value = _field("signature-agent", item.params, request)
            try:
                parsed = parse_item(value).value
            except ValueError:
                return value
            return parsed if isinstance(parsed, str) else value
    return None


def _verify_one(
    label: str,
    covered: InnerList,
    signatures: dict[str, Member],
    request: _Request,
    directory: KeyDirectory,
    policy: _Policy,
) -> BotSignature:
    signature = signatures.get(label)
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise BotAuthError("malformed", f"no Signature byte sequence for label {label!r}")
    params = covered.params
    _param(params, "tag", str, required=True)  # a Token would compare equal to the String
    alg = _param(params, "alg", str, required=False)
    if alg is not None and alg != ALG:
        raise BotAuthError("unsupported_alg", repr(alg))
    created = _param(params, "created", int, required=True)
    expires = _param(params, "expires", int, required=policy.require_expires)
    keyid = _param(params, "keyid", str, required=True)
    nonce = _param(params, "nonce", str, required=policy.require_nonce)
    valid_until = _check_times(created, expires, policy)
    _check_coverage(covered, request)
    key = directory.get(keyid)
    if key is None or not key.usable_at(policy.now):
        raise BotAuthError("unknown_key", keyid)
    base = _signature_base(covered, request)
    try:
        key.public_key.verify(signature.value, base)
    except InvalidSignature as exc:
        raise BotAuthError("bad_signature") from exc
    return BotSignature(
        name=key.name,
        keyid=keyid,
        label=label,
        nonce=nonce,
        created=created,
        expires=expires,
        agent=_covered_agent(covered, request),
        components=tuple(serialize_member(item) for item in covered.items),
        signature=signature.value,
        verified_at=policy.now,
        valid_until=valid_until,
    )


# --------------------------------------------------------------------------------------------
# Replay protection (the caller's store makes each nonce single-use)
# --------------------------------------------------------------------------------------------


def replay_key(sig: BotSignature) -> str:
    """The store key that makes ``sig`` single-use.

    Scoped by ``keyid`` so bots cannot burn each other's nonces.  The nonce is hashed because it is
    sender-chosen: hashing bounds the key length and keeps odd characters out of store keys.  A
    signature without a nonce (``require_nonce=False``) is keyed by its own bytes, so at least an
    identical replay is caught.
    """
    if sig.nonce is not None:
        digest = hashlib.sha256(sig.nonce.encode("ascii")).hexdigest()[:32]
        return f"botauth:nonce:{sig.keyid}:{digest}"
    return f"botauth:sig:{sig.keyid}:{hashlib.sha256(sig.signature).hexdigest()[:32]}"


async def check_replay(store: Store, sig: BotSignature) -> None:
    """Claim ``sig``'s nonce atomically; raise ``BotAuthError("replayed")`` if already claimed.

    One ``Incr`` is the atomic test-and-set: it returns 1 only to the first caller.  The key lives
    until ``sig.valid_until`` (the last moment ``verify`` accepts the signature), so a replay can
    never outlive its record.  Store failures propagate as ``StoreError``: fail closed.
    """
    ttl = max(sig.valid_until - sig.verified_at, 1.0)
    (count,) = await store.execute([Incr(replay_key(sig), 1, ttl)])
    if count != 1:
        raise BotAuthError("replayed", f"nonce already used by {sig.name}")


# --------------------------------------------------------------------------------------------
# Signing (tests and operators' own tooling)
# --------------------------------------------------------------------------------------------


def make_nonce() -> str:
    """64 random bytes, base64: the nonce shape the draft's test vectors use."""
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def sign_request(
    private_key: Ed25519PrivateKey,
    keyid: str,
    method: str,
    authority: str,
    path: str,
    headers: Mapping[str, str],
    *,
    created: int,
    expires: int,
    nonce: str,
    components: Sequence[str] = ("@authority",),
    query: str = "",
    scheme: str = "https",
    label: str = "sig1",
    tag: str = TAG,
    signature_agent: str | None = None,
    agent_key: str | None = None,
) -> dict[str, str]:
    """Sign a request as a Web Bot Auth agent; returns the headers to add.

    ``components`` are plain identifiers (``"@authority"``, ``"@path"``, ``"content-type"``).
    With ``signature_agent`` (an https URL) a ``Signature-Agent`` dictionary member named
    ``agent_key`` (default: the label) is added and covered as ``"signature-agent";key=...``.
    Parameters are emitted in the order of the draft's test vectors (created, keyid, alg,
    expires, nonce, tag), so those vectors are reproduced byte for byte.
    """
    fields = dict(headers)
    out: dict[str, str] = {}
    items = [Item(name) for name in components]
    if signature_agent is not None:
        member = agent_key or label
        out["Signature-Agent"] = f"{member}={serialize_bare(signature_agent)}"
        fields["Signature-Agent"] = out["Signature-Agent"]
        items.append(Item("signature-agent", {"key": member}))
    params: Params = {
        "created": created,
        "keyid": keyid,
        "alg": ALG,
        "expires": expires,
        "nonce": nonce,
        "tag": tag,
    }
    covered = InnerList(tuple(items), params)
    base = signature_base(
        covered,
        method=method,
        authority=authority,
        path=path,
        query=query,
        headers=fields,
        scheme=scheme,
    )
    out["Signature-Input"] = f"{label}={serialize_member(covered)}"
    out["Signature"] = f"{label}={serialize_bare(private_key.sign(base))}"
    return out
