"""Who is asking: the client address (trusting forwarding headers only from configured proxies)
and the identity key that prices, passes and ledgers are bound to."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gate.errors import ConfigError, UnreadableForwarding

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def parse_networks(specs: Iterable[str]) -> tuple[IPNetwork, ...]:
    networks = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"invalid trusted proxy network {spec!r}: {exc}") from exc
    return tuple(networks)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:5000"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> str:
    """The address of the client that the nearest untrusted hop reports.

    ``forwarded_for`` holds every ``X-Forwarded-For`` header value in order.  The chain is read right
    to left, skipping trusted proxies; the first untrusted hop is the client.  A peer that is not a
    trusted proxy is itself the client, whatever headers it sent (they are spoofable).  A hop
    that is not an address, in a chain a trusted proxy sent, raises ``UnreadableForwarding``.
    """
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None:
        return UNKNOWN
    if not forwarded_for or not _trusted(peer_ip, trusted_proxies):
        return str(peer_ip)
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            # Neither a shared "unknown" identity (one pass would pay for every such client)
            # nor the proxy's own address (the same, for everyone behind it): refused.
            raise UnreadableForwarding("unreadable X-Forwarded-For hop from a trusted proxy")
        if not _trusted(hop_ip, trusted_proxies):
            return str(hop_ip)
    return str(peer_ip)


def network_identity(address: str, *, ipv4_prefix: int = 24, ipv6_prefix: int = 64) -> str:
    """Anonymous clients are keyed by network: one host cannot dodge its rate by rotating addresses
    within its /24 (IPv4) or /64 (IPv6, typically one customer)."""
    ip = _parse_ip(address)
    if ip is None:
        return UNKNOWN
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip, prefix = ip.ipv4_mapped, ipv4_prefix
    return f"net:{ipaddress.ip_network(f'{ip}/{prefix}', strict=False)}"


def forwarded_scheme(
    peer: str | None, forwarded_proto: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """The scheme the client used, as a trusted proxy reports it (``X-Forwarded-Proto``)."""
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None or not forwarded_proto or not _trusted(peer_ip, trusted_proxies):
        return None
    scheme = forwarded_proto[-1].split(",")[-1].strip().lower()
    return scheme if scheme in ("http", "https") else None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    name: str
    tier: str = ""


def hash_api_key(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 cannot be searched: no salt or stretching
    is needed, and lookups stay one dictionary probe per request."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
