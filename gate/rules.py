"""Path-prefix rules: which resources are free, forbidden, or priced, and at what price.

The full policy engine (headers, networks, identities, weights) replaces this in a later step; the
``Rule`` fields it needs already exist so passes and prices keep their meaning.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from gate.errors import ConfigError


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    PRICE = "price"


@dataclass(frozen=True, slots=True)
class Rule:
    """Terms of access for one resource: an HTTP path prefix, or (``prefix=None``) anything else
    a gate prices, such as an MCP tool, named by ``scope``.

    ``scope`` is what a pass minted under the rule opens (default ``http:<prefix>``).  Rules that
    name the same scope with the same terms share passes: a pass paid over HTTP then also pays
    for MCP tools, and the reverse.
    """

    prefix: str | None = None
    action: Action = Action.PRICE
    price: int = 1_500  # expected solver tokens before the rate multiplier
    budget: int = 100  # requests one pass pays for
    pass_ttl: int = 3_600  # seconds a pass lives
    free_per_window: int = 0  # requests an identity may make per rate window before paying
    scope: str = ""
    # Seconds an answer must wait after issue before it is judged; None derives it from the
    # price (GateSettings.decode_rate), 0 turns the floor off.
    solve_floor: float | None = None
    # Derived once, read on every request.
    digest: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        name = self.prefix or self.scope
        if self.prefix is not None and not self.prefix.startswith("/"):
            raise ConfigError(f"rule prefix must start with '/': {self.prefix!r}")
        if self.prefix is None and not self.scope:
            raise ConfigError("a rule needs an HTTP prefix or a scope")
        if self.action is Action.PRICE and self.price <= 0:
            raise ConfigError(f"rule {name!r}: price must be positive")
        if self.budget <= 0 or self.pass_ttl <= 0 or self.free_per_window < 0:
            raise ConfigError(f"rule {name!r}: budget and pass_ttl must be positive")
        if self.solve_floor is not None and not 0 <= self.solve_floor <= 3_600:
            raise ConfigError(f"rule {name!r}: solve_floor must be 0-3600 seconds")
        if not self.scope:
            object.__setattr__(self, "scope", f"http:{self.prefix}")
        # The digest covers the scope and everything that affects payment (not the prefix, so
        # rules sharing a scope share passes); passes carry it, so changing the terms
        # re-challenges the passes minted under the old ones.
        terms = {k: v for k, v in asdict(self).items() if k not in ("digest", "prefix")}
        if self.solve_floor is None:  # rules from before the floor existed keep their digest
            del terms["solve_floor"]
        canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "digest", hashlib.sha256(canonical.encode()).hexdigest()[:16])

    def matches(self, path: str) -> bool:
        prefix = self.prefix
        if prefix is None:
            return False
        if prefix.endswith("/"):
            return path.startswith(prefix) or path == prefix.rstrip("/")
        return path == prefix or path.startswith(prefix + "/")


def normalize_path(path: str) -> str:
    """Collapse '//' and resolve '.' and '..' so no spelling of a path reaches another rule.

    ASGI servers hand over the percent-decoded path; decoding again here would let '%252e' smuggle
    dots, so this only normalises segments.
    """
    if path.startswith("/") and "//" not in path and "/." not in path:
        return path  # already normal: the common case costs one scan
    if not path.startswith("/"):
        path = "/" + path
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):  # normpath keeps a leading '//' (POSIX allows it)
        normalized = "/" + normalized.lstrip("/")
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return normalized


ALLOW_ALL = Rule(prefix="/", action=Action.ALLOW)


class RuleSet:
    """Longest matching prefix wins; unmatched paths get ``default``."""

    def __init__(
        self, rules: Iterable[Rule], default: Rule = ALLOW_ALL, tiers: Iterable[Tier] = ()
    ) -> None:
        self.tiers: Mapping[str, Tier] = {tier.name: tier for tier in tiers}
        rules = tuple(rules)
        for rule in rules:
            if rule.prefix is None:
                raise ConfigError(f"rule for {rule.scope!r} has no HTTP prefix")
        self.rules = tuple(sorted(rules, key=lambda rule: len(rule.prefix or ""), reverse=True))
        self.default = default

    def match(self, path: str) -> Rule:
        for rule in self.rules:
            if rule.matches(path):
                return rule
        return self.default

    def evaluate(self, facts: RequestFacts) -> Verdict:
        rule = self.match(facts.path)
        return Verdict(rule, rule.prefix or rule.scope)

    def terms(self) -> list[Rule]:
        return [*self.rules, self.default]

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"match": {"path": {"prefix": rule.prefix}}, **describe_terms(rule)}
            for rule in (*self.rules, self.default)
        ]


@dataclass(frozen=True, slots=True)
class Tier:
    """Better terms for known clients (API-key holders, verified bots)."""

    name: str
    discount: float = 0.0  # share of the price waived: 0.25 pays 75 %
    free_per_window: int = (
        0  # requests per rate window before paying (the larger of this and the rule's)
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.discount < 1.0:
            raise ConfigError(f"tier {self.name!r}: discount must be at least 0 and below 1")
        if self.free_per_window < 0:
            raise ConfigError(f"tier {self.name!r}: free_per_window must not be negative")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What rules may look at.  Header names are lower case; ``path`` is normalised."""

    path: str
    method: str = "GET"
    host: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None  # the client address, resolved through trusted proxies only
    identity: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: Rule  # the terms that apply; its action decides
    name: str  # which rule (or threshold, or default) decided: for records and metrics
    dry_run: bool = False  # record what would have happened, and let the request through
    weight: int = 0


class RuleSource(Protocol):
    """Anything that turns request facts into a verdict: a ``RuleSet`` or a policy."""

    def evaluate(self, facts: RequestFacts) -> Verdict: ...

    def terms(self) -> list[Rule]: ...

    def describe(self) -> list[dict[str, Any]]:
        """Public description of the rules (the discovery document publishes it)."""
        ...

    @property
    def tiers(self) -> Mapping[str, Tier]: ...


def describe_terms(rule: Rule) -> dict[str, Any]:
    if rule.action is Action.PRICE:
        return {
            "action": "challenge",
            "price": rule.price,
            "budget": rule.budget,
            "pass_ttl": rule.pass_ttl,
            "free_per_window": rule.free_per_window,
            "scope": rule.scope,
        }
    return {"action": rule.action.value}
