"""Stored policy: versioned policy documents in SQL, the one source every replica runs.

Every change (a dashboard edit, or the policy file imported by a replica) is validated and stored
as a new version with who made it; each replica polls ``max(version)`` and applies the newest (see
``serving.runtime``).  A document that does not validate is never stored.

``set_dry_run`` and ``set_rule_price`` edit a policy document for the dashboard's toggles: they
change the one value in place, keeping comments and layout, and check the result by parsing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gate.errors import ConfigError
from gate.policy import Policy, parse_policy
from operator_state.models import PolicyChange, PolicyVersion

__all__ = [
    "StoredPolicy",
    "current_policy",
    "latest_version",
    "policy_history",
    "policy_version",
    "save_policy",
    "set_dry_run",
    "set_rule_price",
]

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    version: int
    text: str
    actor: str
    at: datetime
    note: str


def _stored(row: PolicyVersion) -> StoredPolicy:
    return StoredPolicy(row.version, row.text, row.actor, _aware(row.created_at), row.note)


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def latest_version(sessionmaker: Sessions) -> int:
    """The newest version number, 0 when none is stored (the replicas' cheap poll)."""
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.max(PolicyVersion.version))) or 0)


async def policy_version(sessionmaker: Sessions, version: int) -> StoredPolicy | None:
    async with sessionmaker() as session:
        row = await session.get(PolicyVersion, version)
        return None if row is None else _stored(row)


async def current_policy(sessionmaker: Sessions) -> StoredPolicy | None:
    """The newest stored version (what every replica runs), or None when none was saved."""
    history = await policy_history(sessionmaker, limit=1)
    return history[0] if history else None


async def policy_history(
    sessionmaker: Sessions, limit: int = 50, *, actor: str | None = None
) -> list[StoredPolicy]:
    """Newest first; ``actor`` keeps one author's versions (e.g. ``file:<path>``)."""
    query = select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(limit)
    if actor is not None:
        query = query.where(PolicyVersion.actor == actor)
    async with sessionmaker() as session:
        return [_stored(row) for row in (await session.scalars(query)).all()]


async def save_policy(
    sessionmaker: Sessions,
    text: str,
    actor: str,
    note: str = "",
    *,
    source: str = "admin",
    check: Callable[[Policy], None] | None = None,
) -> StoredPolicy:
    """Validate ``text`` and store it as the newest version, with its audit row.

    Raises ``ConfigError`` (naming the rule and field) when the document does not validate, or
    when ``check`` refuses it (pass ``Gatekeeper.check_rules`` to also refuse prices no puzzle can
    reach under the gate's settings).  ``source`` is recorded in the audit trail (``admin`` for
    dashboard edits, the file path for imports).
    """
    if not actor or len(actor) > 300:
        raise ConfigError("a policy change needs an actor (1-300 characters)")
    policy = parse_policy(text, source=source)
    if check is not None:
        check(policy)
    at = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        version = await session.scalar(
            insert(PolicyVersion)
            .values(text=text, digest=policy.digest, actor=actor, note=note, created_at=at)
            .returning(PolicyVersion.version)
        )
        await session.execute(
            insert(PolicyChange).values(
                digest=policy.digest, source=source, actor=actor, document=text
            )
        )
    assert version is not None
    return StoredPolicy(int(version), text, actor, at, note)


# -- document edits --------------------------------------------------------------------------------


def set_dry_run(text: str, on: bool, rule: str | None = None) -> str:
    """The document with dry run switched ``on`` or off, for the whole policy or one rule."""
    document = _load(text)
    if rule is None:
        return _edit(text, document, (), "dry_run", on)
    if rule == "default" or rule.startswith("threshold:"):
        raise ConfigError(
            f"rule {rule!r} follows the policy's own dry_run: switch it for the whole policy"
        )
    path, _ = _find_rule(document, rule)
    return _edit(text, document, path, "dry_run", on)


def set_rule_price(text: str, rule: str, price: int) -> str:
    """The document with rule ``rule`` (a rule name, ``default``, or ``threshold:<weight>``)
    priced at ``price`` expected solver tokens."""
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise ConfigError(f"rule {rule!r}: price must be a positive whole number")
    document = _load(text)
    path, terms = _find_rule(document, rule)
    if terms.get("action") != "challenge":
        raise ConfigError(f"rule {rule!r}: only a challenge rule has a price")
    return _edit(text, document, path, "price", price)


def _load(text: str) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError("a policy is a mapping with a 'rules' list")
    return document


KeyPath = tuple[str | int, ...]


def _find_rule(document: dict[str, Any], name: str) -> tuple[KeyPath, dict[str, Any]]:
    """Where rule ``name`` sits in the document, named as ``gate.policy`` names it."""
    if name == "default":
        return ("default",), _default_terms(document)
    for index, raw in enumerate(document.get("thresholds") or []):
        if isinstance(raw, dict) and f"threshold:{raw.get('weight')}" == name:
            return ("thresholds", index), raw
    for index, raw in enumerate(document.get("rules") or [], start=1):
        if isinstance(raw, dict) and (raw.get("name") or f"rule-{index}") == name:
            return ("rules", index - 1), raw
    raise ConfigError(f"no rule named {name!r} in the policy")


def _default_terms(document: dict[str, Any]) -> dict[str, Any]:
    raw = document.get("default", {"action": "allow"})
    return raw if isinstance(raw, dict) else {"action": raw}


def _edit(text: str, document: dict[str, Any], path: KeyPath, key: str, value: bool | int) -> str:
    """Set ``key`` of the mapping at ``path`` to ``value``: in place when the layout allows,
    otherwise by writing the document out again (comments are then lost)."""
    import copy

    import yaml

    expected = copy.deepcopy(document)
    target: Any = expected
    if path == ("default",):  # may be absent, or written as a bare action
        target = expected["default"] = _default_terms(expected)
    else:
        for step in path:
            target = target[step]
    target[key] = value
    literal = ("true" if value else "false") if isinstance(value, bool) else str(value)
    try:
        edited = _edit_in_place(text, path, key, literal)
    except (yaml.YAMLError, LookupError, TypeError):
        edited = None
    if edited is not None and _load(edited) == expected:
        return edited
    return yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)


def _edit_in_place(text: str, path: KeyPath, key: str, literal: str) -> str | None:
    import yaml

    node = yaml.compose(text)
    if node is None:
        return None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for k, value in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step]
        else:
            return None
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            if not isinstance(value_node, yaml.ScalarNode):
                return None
            start, end = value_node.start_mark.index, value_node.end_mark.index
            return text[:start] + literal + text[end:]
    if node.flow_style or not node.value:
        return None
    # A new key goes on its own line after the mapping's last entry, at its keys' indentation.
    column = node.value[0][0].start_mark.column
    last = node.value[-1][1].end_mark.index
    line_start = text.rfind("\n", 0, last) + 1
    if text[line_start:last].strip(" -") == "":
        at = line_start  # a nested block ended: the mark sits before the next entry's line
    else:
        newline = text.find("\n", last)
        at = len(text) if newline < 0 else newline + 1
    eol = "\r\n" if "\r\n" in text else "\n"
    prefix = "" if at == 0 or text[at - 1] == "\n" else eol
    return text[:at] + prefix + " " * column + f"{key}: {literal}{eol}" + text[at:]
