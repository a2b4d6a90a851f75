"""Errors raised by the gate core.

Every error the core raises derives from ``GateError``; callers at the edge (middleware, MCP, CLI)
catch that one class and fail closed.  Messages never contain an expected answer.

    GateError
    ├── ConfigError            bad settings, keys or rules (raised at start-up, not per request)
    ├── StoreError             the hot-state store failed (network, protocol); treated as "deny"
    ├── BankError              the clue bank cannot compose the requested puzzle
    ├── ChallengePending       this client's challenge is being composed by a concurrent request
    ├── ChallengeError         a solve attempt was refused
    │   ├── ChallengeGone      unknown, expired, already solved, or out of attempts
    │   ├── WrongAnswer        the answer was wrong; ``attempts_left`` tells how many remain
    │   ├── TooEarly           sooner than the solve-time floor: not judged, no attempt used
    │   └── ChallengeMismatch  solved by a different identity than the one it was issued to
    ├── PassError              a pass token was refused
    │   ├── PassInvalid        malformed, bad signature, unknown key id
    │   ├── PassExpired        past its expiry
    │   └── PassNotApplicable  bound to another identity, scope or policy rule
    ├── StateInvalid           echoed sealed state is forged, tampered, expired, foreign or replayed
    └── RequestRefused         the request cannot be judged as sent (400, before anything is charged)
        ├── AmbiguousPath          an upstream could read the path as another resource
        └── UnreadableForwarding   a trusted proxy's forwarding chain does not parse
"""

from __future__ import annotations


class GateError(Exception):
    """Base class of every error raised by the gate core."""


class ConfigError(GateError):
    """Settings, keys or rules are invalid."""


class StoreError(GateError):
    """The hot-state store could not complete an operation."""


class BankError(GateError):
    """The clue bank cannot compose the requested puzzle."""


class ChallengePending(GateError):
    """A concurrent request of the same client is composing its one outstanding challenge."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("a challenge for this client is being prepared; retry shortly")
        self.retry_after = retry_after


class ChallengeError(GateError):
    """A solve attempt was refused."""


class ChallengeGone(ChallengeError):
    """The challenge is unknown, expired, already solved or out of attempts."""


class WrongAnswer(ChallengeError):
    """The submitted answer is wrong."""

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong answer; {attempts_left} attempt(s) left")
        self.attempts_left = attempts_left


class TooEarly(ChallengeError):
    """The answer came sooner than the solve-time floor allows: it was not judged.

    Nothing about its correctness is known to the caller, no attempt was used, and the challenge
    stays valid; ``retry_after`` is the whole seconds until the floor has passed.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too early; retry after {retry_after} s")
        self.retry_after = retry_after


class ChallengeMismatch(ChallengeError):
    """The challenge was issued to a different client identity."""


class PassError(GateError):
    """A pass token was refused."""


class PassInvalid(PassError):
    """The pass is malformed, its signature is wrong or its key is unknown."""


class PassExpired(PassError):
    """The pass is past its expiry."""


class PassNotApplicable(PassError):
    """The pass is bound to another identity, scope or rule."""


class StateInvalid(GateError):
    """Sealed state echoed by a client is not genuine, not for this use, expired or replayed."""


class RequestRefused(GateError):
    """The request cannot be judged as sent: the client gets a 400 naming ``code``, and nothing
    is counted, charged or issued for it."""

    code = "bad_request"


class AmbiguousPath(RequestRefused):
    """The path could be read as another resource by the upstream (see ``gate.paths``)."""

    code = "ambiguous_path"


class UnreadableForwarding(RequestRefused):
    """A trusted proxy sent an ``X-Forwarded-For`` chain with a hop that is not an address.

    Mapping every such client to one shared identity would let a pass minted by one of them
    pay for all of them, so the request is refused instead.
    """

    code = "unreadable_forwarding"
