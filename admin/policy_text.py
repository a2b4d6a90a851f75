"""Policy documents for the dashboard: a first document from the rules a gate runs, and the rows
of a document's rules table."""

from __future__ import annotations

import re
from typing import Any

import yaml

from gate.policy import parse_policy
from gate.rules import RuleSource, Tier

_TERMS = ("price", "budget", "pass_ttl", "free_per_window")


def starter_policy(rules: RuleSource) -> str:
    """A policy document equivalent to ``rules`` (what the gate runs before any is stored)."""
    entries: list[dict[str, Any]] = []
    default: dict[str, Any] = {"action": "allow"}
    described_rules = rules.describe()
    for number, described in enumerate(described_rules, start=1):
        terms = {key: described[key] for key in ("action", *_TERMS) if key in described}
        if number == len(described_rules):  # every rule source lists its default last
            default = terms
            continue
        entry: dict[str, Any] = {
            "name": described.get("name") or _name_of(described["match"]),
            "match": described["match"],
            **terms,
        }
        if "weigh" in described:
            entry["weigh"] = described["weigh"]
        entries.append(entry)
    document = {"version": 1, "dry_run": False, "rules": entries, "default": default}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _name_of(match: dict[str, Any]) -> str:
    path = match.get("path")
    if isinstance(path, dict):
        path = path.get("prefix") or path.get("glob") or path.get("regex")
    slug = re.sub(r"[^a-z0-9]+", "-", str(path or "rule").lower()).strip("-")
    return slug or "rule"


def rule_rows(text: str) -> tuple[bool, list[dict[str, Any]], list[Tier]]:
    """(the policy's global dry run, one row per rule as the policy names them, its tiers)."""
    policy = parse_policy(text, source="stored policy")
    rows = []
    for described in policy.describe():
        name = described["name"]
        rule = next((rule for rule in policy.rules if rule.name == name), None)
        rows.append(
            {
                "name": name,
                "match": yaml.safe_dump(described.get("match") or {}, default_flow_style=True)
                .strip()
                .removesuffix("..."),
                "action": described.get("action", f"weigh {described.get('weigh', '')}"),
                "price": described.get("price"),
                "budget": described.get("budget"),
                "dry_run": bool(rule.dry_run) if rule is not None else False,
                "editable": rule is not None or name == "default",
            }
        )
    return policy.dry_run, rows, sorted(policy.tiers.values(), key=lambda tier: tier.name)
