"""The policy: which requests are free, forbidden, or priced, and at what price.

A policy is an ordered list of rules.  A rule matches on any of path (prefix, glob or regex),
method, host, headers, user agent, client network and identity, and either decides (``allow``,
``deny``, ``challenge`` with a price) or adds weight (``weigh``).  The first deciding rule that
matches wins.  When none matches, the weight collected so far goes through ``thresholds`` (the
highest threshold reached names the action), else ``default`` applies.

Rules can run in dry-run mode (or the whole policy can): the gate records what the rule would have
done and lets the request through.

Policies are written in YAML (see docs/policy.md) and validated as a whole when loaded, by the
pydantic models of ``gate.policy_schema``: an error names the rule and the field, and a policy that
does not validate is never applied.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.errors import ConfigError
from gate.policy_schema import Defaults, RuleEntry, Terms, parse_document
from gate.rules import Action, RequestFacts, Rule, Tier, Verdict, describe_terms

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


Matcher = Callable[[RequestFacts], bool]


@dataclass(frozen=True)
class PolicyRule:
    name: str
    matchers: tuple[Matcher, ...]
    action: Action | None  # None: a weigh rule
    weight: int
    terms: Rule | None
    dry_run: bool
    spec: Mapping[str, Any]  # the match conditions as written, for the discovery document

    def matches(self, facts: RequestFacts) -> bool:
        return all(matcher(facts) for matcher in self.matchers)


@dataclass(frozen=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    thresholds: tuple[tuple[int, Rule, str], ...]  # ascending weight
    default: Rule
    dry_run: bool
    digest: str  # of the source document: what the audit trail records
    source: str = ""
    tiers: Mapping[str, Tier] = field(default_factory=dict)

    def evaluate(self, facts: RequestFacts) -> Verdict:
        weight = 0
        for rule in self.rules:
            if not rule.matches(facts):
                continue
            if rule.action is None:
                weight += rule.weight
                continue
            assert rule.terms is not None
            return Verdict(rule.terms, rule.name, self.dry_run or rule.dry_run, weight)
        for threshold, terms, name in reversed(self.thresholds):
            if weight >= threshold:
                return Verdict(terms, name, self.dry_run, weight)
        return Verdict(self.default, "default", self.dry_run, weight)

    def describe(self) -> list[dict[str, Any]]:
        described: list[dict[str, Any]] = []
        for rule in self.rules:
            entry: dict[str, Any] = {"name": rule.name, "match": dict(rule.spec)}
            if rule.terms is None:
                entry["weigh"] = rule.weight
            else:
                entry.update(describe_terms(rule.terms))
            described.append(entry)
        for weight, terms, name in self.thresholds:
            described.append(
                {"name": name, "match": {"weight_at_least": weight}, **describe_terms(terms)}
            )
        described.append({"name": "default", "match": {}, **describe_terms(self.default)})
        return described

    def terms(self) -> list[Rule]:
        """Every priced rule's terms (to check prices against what a puzzle can cost)."""
        found = [rule.terms for rule in self.rules if rule.terms is not None]
        found += [terms for _, terms, _ in self.thresholds]
        return [*found, self.default]


# -- loading ---------------------------------------------------------------------------------------

_ACTIONS = {"allow": Action.ALLOW, "deny": Action.DENY, "challenge": Action.PRICE}


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}") from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    parsed = parse_document(document, source)  # keys, types and bounds (gate.policy_schema)
    defaults = parsed.defaults
    names: set[str] = set()
    rules = []
    raw_rules = document.get("rules") or []  # the match specs as written, for describe()
    for index, (entry, raw) in enumerate(zip(parsed.rules, raw_rules, strict=True), start=1):
        rule = _rule(entry, raw.get("match") or {}, index, defaults, source)
        if rule.name in names:
            raise ConfigError(f"{source}: rule {index} ({rule.name!r}): duplicate name")
        names.add(rule.name)
        rules.append(rule)
    thresholds = []
    for index, threshold in enumerate(parsed.thresholds, start=1):
        name = f"threshold:{threshold.weight}"
        terms = _terms(threshold, name, defaults, f"{source}: threshold {index}")
        thresholds.append((threshold.weight, terms, name))
    thresholds.sort(key=lambda item: item[0])
    default = _terms(parsed.default, "default", defaults, f"{source}: default")
    canonical = json.dumps(document, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    tiers = {}
    for tier_name, tier in parsed.tiers.items():
        try:
            tiers[str(tier_name)] = Tier(str(tier_name), tier.discount, tier.free_per_window)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return Policy(tuple(rules), tuple(thresholds), default, parsed.dry_run, digest, source, tiers)


def _rule(
    entry: RuleEntry, spec: Mapping[str, Any], index: int, defaults: Defaults, source: str
) -> PolicyRule:
    name = entry.name or f"rule-{index}"
    where = f"{source}: rule {index} ({name!r})"
    matchers = _matchers(spec, where)
    if entry.weigh is not None:
        if "action" in entry.model_fields_set:
            raise ConfigError(f"{where}: a rule either weighs or decides (has an action), not both")
        return PolicyRule(name, matchers, None, entry.weigh, None, entry.dry_run, spec)
    if entry.action is None:
        raise ConfigError(f"{where}: needs 'action' (allow, deny, challenge) or 'weigh'")
    terms = _terms(entry, name, defaults, where)
    return PolicyRule(name, matchers, terms.action, 0, terms, entry.dry_run, spec)


def _terms(entry: Terms, name: str, defaults: Defaults, where: str) -> Rule:
    if entry.action is None:
        raise ConfigError(f"{where}: action must be one of allow, deny, challenge (got None)")
    action = _ACTIONS[entry.action]
    if action is Action.PRICE and entry.price is None and defaults.price is None:
        raise ConfigError(f"{where}: a challenge needs a price (expected solver tokens)")

    def pick(own: int | None, default: int | None, fallback: int) -> int:
        return own if own is not None else default if default is not None else fallback

    # An explicit ``solve_floor: null`` means no floor, even under a default one.
    own_floor = "solve_floor" in entry.model_fields_set
    floor = entry.solve_floor if own_floor else defaults.solve_floor
    try:
        return Rule(
            action=action,
            price=pick(entry.price, defaults.price, 1_500),
            budget=pick(entry.budget, defaults.budget, 100),
            pass_ttl=pick(entry.pass_ttl, defaults.pass_ttl, 3_600),
            free_per_window=pick(entry.free_per_window, defaults.free_per_window, 0),
            scope=entry.scope or f"policy:{name}",
            solve_floor=floor,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _matchers(raw: Mapping[str, Any], where: str) -> tuple[Matcher, ...]:
    """The match conditions as predicates; ``gate.policy_schema`` has checked the keys."""
    matchers: list[Matcher] = []
    if "path" in raw:
        matchers.append(_path_matcher(raw["path"], f"{where}: match.path"))
    if "method" in raw:
        methods = frozenset(m.upper() for m in _strings(raw["method"], f"{where}: match.method"))
        matchers.append(lambda facts: facts.method.upper() in methods)
    if "host" in raw:
        test = _text_matcher(raw["host"], f"{where}: match.host", fold=True)
        matchers.append(lambda facts: test(facts.host.split(":")[0]))
    if "user_agent" in raw:
        test_ua = _text_matcher(raw["user_agent"], f"{where}: match.user_agent")
        matchers.append(lambda facts: test_ua(facts.headers.get("user-agent", "")))
    if "headers" in raw:
        spec = raw["headers"]
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(f"{where}: match.headers maps header names to patterns")
        for header, pattern in spec.items():
            name = str(header).lower()
            if pattern is True:  # present, any value
                matchers.append(_header_present(name))
                continue
            test_h = _text_matcher(pattern, f"{where}: match.headers.{header}")
            matchers.append(_header_matches(name, test_h))
    if "network" in raw:
        networks = tuple(
            _network(text, f"{where}: match.network") for text in _strings(raw["network"], where)
        )
        matchers.append(lambda facts: _in_networks(facts.address, networks))
    if "identity" in raw:
        test_id = _text_matcher(raw["identity"], f"{where}: match.identity")
        matchers.append(lambda facts: test_id(facts.identity))
    return tuple(matchers)


def _path_matcher(spec: Any, where: str) -> Matcher:
    if isinstance(spec, str):
        spec = {"prefix": spec}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"{where}: give exactly one of prefix, glob, regex")
    ((kind, pattern),) = spec.items()
    if not isinstance(pattern, str) or (kind != "regex" and not pattern.startswith("/")):
        raise ConfigError(f"{where}: {kind} must be a path starting with '/'")
    if kind == "prefix":
        probe = Rule(pattern, action=Action.ALLOW)
        return lambda facts: probe.matches(facts.path)
    if kind == "glob":
        compiled = re.compile(fnmatch.translate(pattern))
        return lambda facts: compiled.match(facts.path) is not None
    if kind == "regex":
        regex = _regex(pattern, where)
        return lambda facts: regex.search(facts.path) is not None
    raise ConfigError(f"{where}: unknown path matcher {kind!r}; use prefix, glob or regex")


def _text_matcher(spec: Any, where: str, *, fold: bool = False) -> Callable[[str], bool]:
    """A string (exact, or a glob when it has * ? [), a list of those, or {regex: ...}."""
    if isinstance(spec, dict):
        if set(spec) != {"regex"}:
            raise ConfigError(f"{where}: use a value, a list of values, or {{regex: ...}}")
        regex = _regex(spec["regex"], where)
        return lambda value: regex.search(value) is not None
    patterns = [p.lower() if fold else p for p in _strings(spec, where)]
    exact = frozenset(p for p in patterns if not any(ch in p for ch in "*?["))
    globs = tuple(re.compile(fnmatch.translate(p)) for p in patterns if p not in exact)

    def test(value: str) -> bool:
        value = value.lower() if fold else value
        return value in exact or any(glob.match(value) for glob in globs)

    return test


def _regex(pattern: Any, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: regex must be text")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regex {pattern!r}: {exc}") from exc


def _strings(value: Any, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: expected text or a list of text")
    return values


def _network(text: str, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid network {text!r}") from exc


def _in_networks(address: str | None, networks: Sequence[IPNetwork]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _header_present(name: str) -> Callable[[RequestFacts], bool]:
    return lambda facts: name in facts.headers


def _header_matches(name: str, test: Callable[[str], bool]) -> Callable[[RequestFacts], bool]:
    return lambda facts: test(facts.headers.get(name, ""))
