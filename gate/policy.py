"""The policy: which requests are free, forbidden, or priced, and at what price.

A policy is an ordered list of rules.  A rule matches on any of path (prefix, glob or regex),
method, host, headers, user agent, client network and identity, and either decides (``allow``,
``deny``, ``challenge`` with a price) or adds weight (``weigh``).  The first deciding rule that
matches wins.  When none matches, the weight collected so far goes through ``thresholds`` (the
highest threshold reached names the action), else ``default`` applies.

Rules can run in dry-run mode (or the whole policy can): the gate records what the rule would have
done and lets the request through.

Policies are written in YAML (see docs/policy.md) and validated as a whole when loaded: an error
names the rule and the field, and a policy that does not validate is never applied.
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

_RULE_KEYS = {
    "name",
    "match",
    "action",
    "price",
    "budget",
    "pass_ttl",
    "free_per_window",
    "weigh",
    "dry_run",
    "scope",
    "solve_floor",
}
_MATCH_KEYS = {"path", "method", "host", "headers", "user_agent", "network", "identity"}
_TOP_KEYS = {"version", "dry_run", "defaults", "rules", "thresholds", "default", "tiers"}


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
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a policy is a mapping with a 'rules' list")
    _only(document, _TOP_KEYS, source)
    if document.get("version", 1) != 1:
        raise ConfigError(f"{source}: unsupported policy version {document.get('version')!r}")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: 'defaults' must be a mapping")
    _only(
        defaults,
        {"budget", "pass_ttl", "free_per_window", "price", "solve_floor"},
        f"{source}: defaults",
    )
    raw_rules = document.get("rules")
    raw_rules = [] if raw_rules is None else raw_rules
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{source}: 'rules' must be a list")
    names: set[str] = set()
    rules = []
    for index, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(raw, index, defaults, source)
        if rule.name in names:
            raise ConfigError(f"{source}: rule {index} ({rule.name!r}): duplicate name")
        names.add(rule.name)
        rules.append(rule)
    thresholds = []
    for index, raw in enumerate(document.get("thresholds") or [], start=1):
        where = f"{source}: threshold {index}"
        if not isinstance(raw, dict) or "weight" not in raw:
            raise ConfigError(f"{where}: needs 'weight' and 'action'")
        _only(
            raw,
            {
                "weight",
                "action",
                "price",
                "budget",
                "pass_ttl",
                "free_per_window",
                "scope",
                "solve_floor",
            },
            where,
        )
        weight = _int(raw["weight"], f"{where}: weight", minimum=1)
        name = f"threshold:{weight}"
        thresholds.append((weight, _terms(raw, name, defaults, where), name))
    thresholds.sort(key=lambda item: item[0])
    raw_default = document.get("default", {"action": "allow"})
    if isinstance(raw_default, str):
        raw_default = {"action": raw_default}
    default = _terms(raw_default, "default", defaults, f"{source}: default")
    dry_run = document.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"{source}: dry_run must be true or false")
    canonical = json.dumps(document, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    tiers = _tiers(document.get("tiers") or {}, source)
    return Policy(tuple(rules), tuple(thresholds), default, dry_run, digest, source, tiers)


def _tiers(raw: Any, source: str) -> dict[str, Tier]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'tiers' maps tier names to terms")
    tiers = {}
    for name, terms in raw.items():
        where = f"{source}: tier {name!r}"
        if not isinstance(terms, dict):
            raise ConfigError(f"{where}: give discount and/or free_per_window")
        _only(terms, {"discount", "free_per_window"}, where)
        discount = terms.get("discount", 0)
        if isinstance(discount, bool) or not isinstance(discount, int | float):
            raise ConfigError(f"{where}: discount must be a number between 0 and 1")
        free = _int(terms.get("free_per_window", 0), f"{where}: free_per_window")
        try:
            tiers[str(name)] = Tier(str(name), float(discount), free)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return tiers


def _parse_rule(raw: Any, index: int, defaults: Mapping[str, Any], source: str) -> PolicyRule:
    where = f"{source}: rule {index}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a rule is a mapping")
    name = raw.get("name") or f"rule-{index}"
    if not isinstance(name, str):
        raise ConfigError(f"{where}: name must be text")
    where = f"{source}: rule {index} ({name!r})"
    _only(raw, _RULE_KEYS, where)
    matchers = _matchers(raw.get("match") or {}, where)
    dry_run = raw.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"{where}: dry_run must be true or false")
    if "weigh" in raw:
        if "action" in raw:
            raise ConfigError(f"{where}: a rule either weighs or decides (has an action), not both")
        weight = _int(raw["weigh"], f"{where}: weigh")
        return PolicyRule(name, matchers, None, weight, None, dry_run, raw.get("match") or {})
    if "action" not in raw:
        raise ConfigError(f"{where}: needs 'action' (allow, deny, challenge) or 'weigh'")
    terms = _terms(raw, name, defaults, where)
    return PolicyRule(name, matchers, terms.action, 0, terms, dry_run, raw.get("match") or {})


def _terms(raw: Mapping[str, Any], name: str, defaults: Mapping[str, Any], where: str) -> Rule:
    action_name = raw.get("action")
    actions = {"allow": Action.ALLOW, "deny": Action.DENY, "challenge": Action.PRICE}
    if not isinstance(action_name, str) or action_name not in actions:  # a list or map: no
        raise ConfigError(
            f"{where}: action must be one of allow, deny, challenge (got {action_name!r})"
        )
    action = actions[action_name]
    if action is Action.PRICE and "price" not in raw and "price" not in defaults:
        raise ConfigError(f"{where}: a challenge needs a price (expected solver tokens)")

    def pick(key: str, fallback: int) -> int:
        return _int(raw.get(key, defaults.get(key, fallback)), f"{where}: {key}")

    scope = raw.get("scope") or f"policy:{name}"
    if not isinstance(scope, str):
        raise ConfigError(f"{where}: scope must be text")
    floor = raw.get("solve_floor", defaults.get("solve_floor"))
    if floor is not None and (
        isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor <= 3_600
    ):
        raise ConfigError(f"{where}: solve_floor must be a number of seconds, 0-3600")
    try:
        return Rule(
            action=action,
            price=pick("price", 1_500),
            budget=pick("budget", 100),
            pass_ttl=pick("pass_ttl", 3_600),
            free_per_window=pick("free_per_window", 0),
            scope=scope,
            solve_floor=None if floor is None else float(floor),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _matchers(raw: Any, where: str) -> tuple[Matcher, ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'match' must be a mapping")
    _only(raw, _MATCH_KEYS, f"{where}: match")
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


def _int(value: Any, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number (got {value!r})")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where} must be at least {minimum}")
    return value


def _only(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")


def _header_present(name: str) -> Callable[[RequestFacts], bool]:
    return lambda facts: name in facts.headers


def _header_matches(name: str, test: Callable[[str], bool]) -> Callable[[RequestFacts], bool]:
    return lambda facts: test(facts.headers.get(name, ""))
