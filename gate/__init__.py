"""Reasoning Gate core: challenges, passes, prices and hot state, free of any web framework."""

from gate.challenges import ChallengeService, IssuedChallenge, MintedPass, Terms
from gate.clock import Clock, ManualClock, system_clock
from gate.config import GateConfig
from gate.errors import (
    BankError,
    ChallengeError,
    ChallengeGone,
    ChallengeMismatch,
    ConfigError,
    GateError,
    PassError,
    PassExpired,
    PassInvalid,
    PassNotApplicable,
    StateInvalid,
    StoreError,
    WrongAnswer,
)
from gate.gatekeeper import (
    Allow,
    Challenge,
    Decision,
    Deny,
    Gatekeeper,
    GateSettings,
    Throttle,
    Visitor,
)
from gate.keys import KeyRing, load_keyring
from gate.passes import PassClaims, PassCodec
from gate.policy import Policy, load_policy, parse_policy
from gate.pricing import RateCurve, puzzle_spec
from gate.puzzle import (
    ComposedPuzzle,
    PublicClue,
    PublicGate,
    PublicPuzzle,
    PuzzleSource,
    PuzzleSpec,
)
from gate.rules import Action, RequestFacts, Rule, RuleSet, RuleSource, Tier, Verdict

__all__ = [
    "Action",
    "Allow",
    "BankError",
    "Challenge",
    "ChallengeError",
    "ChallengeGone",
    "ChallengeMismatch",
    "ChallengeService",
    "Clock",
    "ComposedPuzzle",
    "ConfigError",
    "Decision",
    "Deny",
    "GateConfig",
    "GateError",
    "GateSettings",
    "Gatekeeper",
    "IssuedChallenge",
    "KeyRing",
    "ManualClock",
    "MintedPass",
    "PassClaims",
    "PassCodec",
    "PassError",
    "PassExpired",
    "PassInvalid",
    "PassNotApplicable",
    "Policy",
    "PublicClue",
    "PublicGate",
    "PublicPuzzle",
    "PuzzleSource",
    "PuzzleSpec",
    "RateCurve",
    "RequestFacts",
    "Rule",
    "RuleSet",
    "RuleSource",
    "StateInvalid",
    "StoreError",
    "Terms",
    "Throttle",
    "Tier",
    "Verdict",
    "Visitor",
    "WrongAnswer",
    "load_keyring",
    "load_policy",
    "parse_policy",
    "puzzle_spec",
    "system_clock",
]
