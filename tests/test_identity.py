import pytest

from gate.errors import UnreadableForwarding
from gate.identity import UNKNOWN, client_address, network_identity, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "::1/128"])


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    assert client_address("203.0.113.9", ("1.2.3.4",), PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_reports_the_nearest_untrusted_hop() -> None:
    chain = ("198.51.100.1, 203.0.113.7, 10.1.1.1",)
    assert client_address("10.0.0.2", chain, PROXIES) == "203.0.113.7"


def test_a_spoofed_leftmost_hop_cannot_pick_the_identity() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; the trusted proxy appended the real address.
    assert client_address("10.0.0.2", ("1.1.1.1", "203.0.113.7"), PROXIES) == "203.0.113.7"


def test_garbage_in_a_trusted_chain_is_refused_not_shared() -> None:
    # "unknown" for all of them would let one pass pay for every client sending a garbled chain.
    for chain in (("not-an-ip",), ("198.51.100.7, ",), ("198.51.100.7,,10.0.0.9",)):
        with pytest.raises(UnreadableForwarding):
            client_address("10.0.0.2", chain, PROXIES)
    # From an untrusted peer the chain is not read at all: the peer is the client.
    assert client_address("203.0.113.9", ("not-an-ip",), PROXIES) == "203.0.113.9"
    assert client_address(None, (), PROXIES) == UNKNOWN


def test_anonymous_identities_are_networks() -> None:
    assert network_identity("203.0.113.77") == "net:203.0.113.0/24"
    assert network_identity("2001:db8:1:2:3:4:5:6") == "net:2001:db8:1:2::/64"
    assert network_identity("::ffff:203.0.113.77") == "net:203.0.113.0/24"
    assert network_identity("garbage") == UNKNOWN
