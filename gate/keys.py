"""Signing keys: one active Ed25519 key signs, every key in the ring verifies (rotation with overlap).

A key id (``kid``) is derived from the public key so tokens name the key that signed them and old
passes keep verifying after a new key becomes active.  The same secret seeds an HMAC key used to
digest expected answers, so the store never holds an answer in the clear.

Keys come from PEM files (``GATE_SIGNING_KEY_FILE``, ``GATE_VERIFY_KEY_FILES``) or from the
environment (``GATE_SIGNING_KEY``, ``GATE_VERIFY_KEYS``) for platforms whose secret stores inject
variables.  In a variable a key is PEM or the base64 of its 32 raw bytes (the private seed, or the
public key as :func:`public_key_text` prints it); base64 keeps a key on one line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gate.errors import ConfigError, PassInvalid


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Unpadded, canonical base64url only, so one value has one spelling.

    The stdlib decoder skips stray characters, accepts padding and ignores the unused low bits
    of the last character: several strings would name one pass, which defeats caches and
    revocation by string.  Anything but the one string ``b64url`` writes raises ``ValueError``.
    """
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("non-canonical base64url (unused low bits set)")
    return data


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(hashlib.sha256(raw).digest()[:6])


def _answer_key(private: Ed25519PrivateKey) -> bytes:
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    # Domain-separated so the answer key is useless as a signing key and vice versa.
    return hmac.new(seed, b"reasoning-gate/answer-digest/v1", hashlib.sha256).digest()


@dataclass
class KeyRing:
    signing: Ed25519PrivateKey
    verifying: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kid = key_id(self.signing.public_key())
        self.verifying.setdefault(self.kid, self.signing.public_key())
        self.answer_key = _answer_key(self.signing)
        # Answer keys of retired keys whose private half is still configured: a challenge issued
        # just before a rotation stays solvable on replicas that already switched.
        self.answer_keys: dict[str, bytes] = {self.kid: self.answer_key}

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)

    def verify(self, kid: str, message: bytes, signature: bytes) -> None:
        public = self.verifying.get(kid)
        if public is None:
            raise PassInvalid("unknown key id")
        try:
            public.verify(signature, message)
        except InvalidSignature as exc:
            raise PassInvalid("bad signature") from exc

    def add_verify_key(self, public: Ed25519PublicKey) -> None:
        self.verifying[key_id(public)] = public

    def add_retired_key(self, private: Ed25519PrivateKey) -> None:
        """Another signing key (a retired one, or the next one during a rolling rotation): it
        verifies passes and checks answers of challenges issued under it, but never signs here."""
        kid = key_id(private.public_key())
        self.verifying[kid] = private.public_key()
        self.answer_keys.setdefault(kid, _answer_key(private))

    def answer_digest(self, context: str, normalized: str, kid: str | None = None) -> bytes:
        """The keyed digest of an answer under key ``kid`` (default: the active key).

        An unknown ``kid`` gives an empty digest, which matches nothing: fail closed.
        """
        key = self.answer_keys.get(kid or self.kid)
        if key is None:
            return b""
        return hmac.new(key, f"{context}\x00{normalized}".encode(), hashlib.sha256).digest()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key")
    return key


def load_verify_file(path: Path) -> Ed25519PublicKey | Ed25519PrivateKey:
    """A key that still verifies: a public PEM, or a retired signing key's own (private) file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot load verification key {path}: {exc}") from exc
    return load_private_key(path) if b"PRIVATE KEY" in data else load_public_key(path)


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
        key = (
            serialization.load_pem_private_key(data, password=None).public_key()
            if b"PRIVATE KEY" in data
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load verification key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"verification key {path} is not an Ed25519 key")
    return key


def _raw_key_bytes(text: str) -> bytes | None:
    """The 32 bytes of a base64 (standard or URL-safe) key, or ``None`` when it is not one."""
    compact = "".join(text.split())
    try:
        raw = base64.b64decode(
            compact.replace("-", "+").replace("_", "/") + "=" * (-len(compact) % 4), validate=True
        )
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def parse_private_key(text: str, *, origin: str = "GATE_SIGNING_KEY") -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM text or base64 of its 32-byte seed."""
    raw = _raw_key_bytes(text)
    try:
        key = (
            Ed25519PrivateKey.from_private_bytes(raw)
            if raw is not None
            else serialization.load_pem_private_key(text.strip().encode(), password=None)
        )
    except (ValueError, TypeError) as exc:  # the message never repeats the secret
        raise ConfigError(f"{origin} is neither PEM nor base64 of a 32-byte Ed25519 seed") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{origin} is not an Ed25519 key")
    return key


def parse_public_key(text: str, *, origin: str = "GATE_VERIFY_KEYS") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text or base64 of its 32 raw bytes."""
    raw = _raw_key_bytes(text)
    try:
        key = (
            Ed25519PublicKey.from_public_bytes(raw)
            if raw is not None
            else serialization.load_pem_public_key(text.strip().encode())
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{origin} holds a key that is neither PEM nor base64 of 32 bytes"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{origin} holds a key that is not Ed25519")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """The one-line form of a public key for ``GATE_VERIFY_KEYS`` (URL-safe base64, no padding)."""
    return b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def rotate_key_file(path: Path) -> tuple[str, str, Path]:
    """Move the key at ``path`` aside (``<stem>.<kid>.retired.pem``) and write a new one there.

    Returns the old and new key ids and the retired file.  Both files are mode 0600 and the old
    key is moved, never copied, so exactly one file holds each secret.
    """
    old = load_private_key(path)
    old_kid = key_id(old.public_key())
    retired = path.with_name(f"{path.stem}.{old_kid}.retired.pem")
    if retired.exists():
        raise ConfigError(f"{retired} exists already; move it away first")
    path.rename(retired)
    try:
        new = Ed25519PrivateKey.generate()
        write_private_key(path, new)
    except BaseException:
        retired.rename(path)  # leave things as they were
        raise
    return old_kid, key_id(new.public_key()), retired


def load_keyring(
    signing_key_file: Path | None,
    verify_key_files: tuple[Path, ...] = (),
    *,
    create: bool = False,
    signing_key: str = "",
    verify_keys: Sequence[str] = (),
) -> KeyRing:
    """Load the active key and the old keys that still verify.

    ``signing_key`` (the key's text) wins over ``signing_key_file``; a missing file is created with
    mode 0600 only when ``create`` (the embedded default: an operator's explicit path that does not
    exist is an error, or replicas would each mint with a key of their own).  With neither, the
    ring holds a fresh key that lives as long as the process.
    """
    if signing_key:
        ring = KeyRing(parse_private_key(signing_key))
    elif signing_key_file is None:
        ring = KeyRing.generate()
    else:
        if not signing_key_file.exists():
            if not create:
                raise ConfigError(f"signing key file {signing_key_file} does not exist")
            write_private_key(signing_key_file, Ed25519PrivateKey.generate())
        ring = KeyRing(load_private_key(signing_key_file))
    for path in verify_key_files:
        key = load_verify_file(path)
        if isinstance(key, Ed25519PrivateKey):
            ring.add_retired_key(key)
        else:
            ring.add_verify_key(key)
    for text in verify_keys:
        if "PRIVATE KEY" in text:  # a signing key of a rotation's overlap (see add_retired_key)
            ring.add_retired_key(parse_private_key(text, origin="GATE_VERIFY_KEYS"))
        else:
            ring.add_verify_key(parse_public_key(text))
    return ring
