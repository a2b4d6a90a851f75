"""The policy file's shape, as pydantic models, and its errors in the policy's own words.

``PolicyDocument.model_validate`` checks every key, type and bound of a parsed YAML document;
``config_error`` turns the first ``ValidationError`` entry into a ``ConfigError`` that names the rule
(by index and name), threshold, tier or section, and the field: ``rule 2 ('api'): price must be a
whole number (got 'x')``.  What the models cannot say alone (a rule that both weighs and decides,
duplicate names, a challenge without a price, the matchers' patterns) ``gate.policy`` checks.

The models keep the file's long-standing leniencies: an empty ``match``, ``defaults``, ``tiers`` or
``thresholds`` (``[]``, ``{}``, ``null``) means none; an empty name or scope means the generated one;
an explicit ``null`` price is refused rather than read as "use the default", while an explicit
``null`` solve floor means "no floor" even under a default one.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gate.errors import ConfigError

ActionName = Literal["allow", "deny", "challenge"]
_WHOLE = ("price", "budget", "pass_ttl", "free_per_window")


def _empty_is_none(value: Any) -> Any:
    return value or None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # What to say when the value is not a mapping at all, or lacks a required field.
    not_a_mapping: ClassVar[str] = "must be a mapping"

    @field_validator("*", mode="before")
    @classmethod
    def _explicit_null(cls, value: Any, info: ValidationInfo) -> Any:
        # A field written as ``null`` is an error unless the field says otherwise; a field left
        # out takes its default (pydantic does not validate defaults).
        if value is None and info.field_name not in cls._nullable():
            raise ValueError("null")
        return value

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset()


class Terms(_Model):
    """What a deciding rule, threshold or the default says: action and price terms."""

    action: ActionName | None = None
    price: int | None = None
    budget: int | None = None
    pass_ttl: int | None = None
    free_per_window: int | None = None
    scope: str | None = None
    solve_floor: float | None = Field(default=None, ge=0, le=3_600)

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset({"scope", "solve_floor"})

    @field_validator("scope", mode="before")
    @classmethod
    def _default_scope(cls, value: Any) -> Any:
        return _empty_is_none(value)


class Defaults(_Model):
    price: int | None = None
    budget: int | None = None
    pass_ttl: int | None = None
    free_per_window: int | None = None
    solve_floor: float | None = Field(default=None, ge=0, le=3_600)

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset({"solve_floor"})


class Match(_Model):
    """Which match keys exist; each value's form is checked as its matcher is built."""

    not_a_mapping: ClassVar[str] = "'match' must be a mapping"
    path: Any = None
    method: Any = None
    host: Any = None
    headers: Any = None
    user_agent: Any = None
    network: Any = None
    identity: Any = None

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset(cls.model_fields)


class RuleEntry(Terms):
    not_a_mapping: ClassVar[str] = "a rule is a mapping"
    name: str | None = None
    match: Match = Match()
    weigh: int | None = None
    dry_run: bool = False

    @field_validator("name", mode="before")
    @classmethod
    def _default_name(cls, value: Any) -> Any:
        return _empty_is_none(value)

    @field_validator("match", mode="before")
    @classmethod
    def _no_match(cls, value: Any) -> Any:
        return value or {}

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset({"scope", "solve_floor", "name", "match"})


class Threshold(Terms):
    not_a_mapping: ClassVar[str] = "needs 'weight' and 'action'"
    weight: int = Field(ge=1)
    action: ActionName | None = None


class TierTerms(_Model):
    not_a_mapping: ClassVar[str] = "give discount and/or free_per_window"
    discount: float = 0.0
    free_per_window: int = 0


class PolicyDocument(_Model):
    not_a_mapping: ClassVar[str] = "a policy is a mapping with a 'rules' list"
    version: Any = 1
    dry_run: bool = False
    defaults: Defaults = Defaults()
    rules: list[RuleEntry] = []
    thresholds: list[Threshold] = []
    default: Terms = Terms(action="allow")
    tiers: dict[Any, TierTerms] = {}

    @classmethod
    def _nullable(cls) -> frozenset[str]:
        return frozenset({"version", "defaults", "rules", "thresholds", "tiers"})

    @field_validator("version")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value != 1:
            raise ValueError(f"unsupported policy version {value!r}")
        return value

    @field_validator("defaults", "thresholds", "tiers", mode="before")
    @classmethod
    def _empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value:
            return value
        return [] if info.field_name == "thresholds" else {}

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("default", mode="before")
    @classmethod
    def _default_action(cls, value: Any) -> Any:
        return {"action": value} if isinstance(value, str) else value


# -- errors in the policy's words --------------------------------------------------------------

_SAYS = {
    "action": "must be one of allow, deny, challenge (got {input!r})",
    "dry_run": "must be true or false",
    "name": "must be text",
    "scope": "must be text",
    "solve_floor": "must be a number of seconds, 0-3600",
    "discount": "must be a number between 0 and 1",
    **{key: "must be a whole number (got {input!r})" for key in (*_WHOLE, "weigh", "weight")},
}


def parse_document(document: Any, source: str) -> PolicyDocument:
    try:
        return PolicyDocument.model_validate(document)
    except ValidationError as exc:
        raise config_error(exc, document, source) from exc


def config_error(exc: ValidationError, document: Any, source: str) -> ConfigError:
    errors = exc.errors()
    # The first part of the file in error; within it, unknown keys first and all of them at once.
    first = tuple(errors[0]["loc"])
    entry = first[:2] if first[:1] in {("rules",), ("thresholds",), ("tiers",)} else first[:1]
    entry = entry if len(first) > len(entry) else entry[:-1]
    extra = [
        e for e in errors if e["type"] == "extra_forbidden" and e["loc"][: len(entry)] == entry
    ]
    if extra:
        parent = extra[0]["loc"][:-1]
        unknown = sorted(str(e["loc"][-1]) for e in extra if e["loc"][:-1] == parent)
        return ConfigError(f"{_place(parent, document, source)[0]}: unknown field(s) {', '.join(unknown)}")
    error = errors[0]
    loc = tuple(error["loc"])
    if len(loc) == 1 and loc[0] in _SECTIONS or error["type"] in _NOT_A_MAPPING:
        return ConfigError(_not_a_mapping(loc, document, source))
    if loc == ("version",):
        return ConfigError(f"{source}: {str(error['msg']).removeprefix('Value error, ')}")
    where, model = _place(loc[:-1], document, source)
    field = str(loc[-1])
    if error["type"] == "missing":
        return ConfigError(f"{where}: {model.not_a_mapping}")
    if error["type"] == "greater_than_equal" and field == "weight":
        return ConfigError(f"{where}: weight must be at least 1")
    says = _SAYS.get(field, "is not valid ({msg})").format(
        input=error.get("input"), msg=error["msg"]
    )
    return ConfigError(f"{where}: {field} {says}")


def _not_a_mapping(loc: tuple[Any, ...], document: Any, source: str) -> str:
    if len(loc) == 1:
        return f"{source}: {_SECTIONS[loc[0]]}"
    if len(loc) == 3:  # a rule's match
        return f"{_place(loc[:2], document, source)[0]}: {Match.not_a_mapping}"
    where, model = _place(loc, document, source)  # the whole document, or one entry of a list
    return f"{where}: {model.not_a_mapping}"


def _place(loc: tuple[Any, ...], document: Any, source: str) -> tuple[str, type[_Model]]:
    """How the errors name the part of the policy at ``loc``, and that part's model."""
    if not loc:
        return source, PolicyDocument
    section = loc[0]
    if len(loc) == 1:
        return f"{source}: {section}", Defaults if section == "defaults" else Terms
    key = loc[1]
    if section == "tiers":
        return f"{source}: tier {key!r}", TierTerms
    if section == "thresholds":
        return f"{source}: threshold {key + 1}", Threshold
    raw = document["rules"][key]
    name = (raw.get("name") or f"rule-{key + 1}") if isinstance(raw, dict) else None
    where = f"{source}: rule {key + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
    if loc[2:3] == ("match",):
        return f"{where}: match", Match
    return where, RuleEntry


_NOT_A_MAPPING = {"model_type", "model_attributes_type", "dict_type", "list_type"}
_SECTIONS = {
    "rules": "'rules' must be a list",
    "thresholds": "'thresholds' must be a list",
    "tiers": "'tiers' maps tier names to terms",
    "defaults": "'defaults' must be a mapping",
    "default": "'default' must be an action or a mapping",
}
