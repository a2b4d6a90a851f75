"""What the gate core needs from a puzzle source, and what it shows to solvers.

The core never imports the clue bank: it asks any ``PuzzleSource`` for a ``ComposedPuzzle`` matching a
``PuzzleSpec``.  ``ComposedPuzzle.public`` is the only part that may leave the server; the hidden words
live next to it, never inside it, so serialising the public part can never leak an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

TIERS = (1, 2, 3)  # 1 easy ... 3 hard; people get an easier tier than programs by default


@dataclass(frozen=True, slots=True)
class PuzzleSpec:
    gates: int  # hidden words in one challenge
    length: int  # letters per hidden word (one clue per letter)
    tier: int


@dataclass(frozen=True, slots=True)
class PublicClue:
    clue_id: int
    domain: str
    text: str
    cost: int  # expected solver tokens to answer this clue
    # The reference models whose solves measured ``cost`` ("a,b"); "" when ``cost`` is the tier's
    # default, an estimate.
    measured_by: str = ""


@dataclass(frozen=True, slots=True)
class PublicGate:
    clues: tuple[PublicClue, ...]

    @property
    def length(self) -> int:
        return len(self.clues)


@dataclass(frozen=True, slots=True)
class PublicPuzzle:
    gates: tuple[PublicGate, ...]
    tier: int

    @property
    def cost(self) -> int:
        """Expected solver tokens for the whole puzzle: the price actually charged."""
        return sum(clue.cost for gate in self.gates for clue in gate.clues)

    @property
    def basis(self) -> dict[str, object]:
        """What the price rests on: clue costs measured by named models, or tier defaults."""
        clues = [clue for gate in self.gates for clue in gate.clues]
        measured = [clue for clue in clues if clue.measured_by]
        return price_basis(len(clues), len(measured), (c.measured_by for c in measured))


@dataclass(frozen=True, slots=True)
class ComposedPuzzle:
    public: PublicPuzzle
    words: tuple[str, ...]  # the hidden words, one per gate; server-side only

    def __repr__(self) -> str:  # keep answers out of logs and tracebacks
        return f"ComposedPuzzle(public={self.public!r}, words=<{len(self.words)} hidden>)"


class PuzzleSource(Protocol):
    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        """Compose a fresh puzzle; raise ``gate.errors.BankError`` when the bank cannot."""
        ...


@runtime_checkable
class BasisSource(Protocol):
    def price_basis(self) -> Mapping[int, dict[str, object]]:
        """Per tier, what the costs of the clues this source can serve rest on."""
        ...


def price_basis(clues: int, measured: int, models: Iterable[str]) -> dict[str, object]:
    """The wire form of a calibration basis over ``clues`` clues, ``measured`` of them measured.

    ``kind`` is ``measured`` (every cost comes from reference solves), ``estimated`` (every cost is
    its tier's default: 150, 300 or 600 tokens for tiers 1-3) or ``mixed``.
    """
    kind = "measured" if clues and measured == clues else "estimated" if not measured else "mixed"
    names = sorted({name for joined in models for name in joined.split(",") if name})
    return {"kind": kind, "clues": clues, "measured_clues": measured, "models": names}


def puzzle_to_dict(puzzle: PublicPuzzle) -> dict[str, object]:
    """The public wire form of a puzzle (what JSON responses and stored challenges carry).

    Clue ids stay out of it: a stable id per clue would tell a solver that two challenges share a
    clue, and so the letter, without reading the clue at all.
    """
    return {
        "tier": puzzle.tier,
        "cost": puzzle.cost,
        "basis": puzzle.basis,
        "gates": [
            {
                "length": gate.length,
                "clues": [
                    {
                        "domain": clue.domain,
                        "text": clue.text,
                        "cost": clue.cost,
                        **({"measured_by": clue.measured_by} if clue.measured_by else {}),
                    }
                    for clue in gate.clues
                ],
            }
            for gate in puzzle.gates
        ],
    }


def puzzle_from_dict(data: dict[str, Any]) -> PublicPuzzle:
    return PublicPuzzle(
        gates=tuple(
            PublicGate(
                tuple(
                    PublicClue(
                        0,
                        str(c["domain"]),
                        str(c["text"]),
                        int(c["cost"]),
                        str(c.get("measured_by", "")),
                    )
                    for c in gate["clues"]
                )
            )
            for gate in data["gates"]
        ),
        tier=int(data["tier"]),
    )


def puzzle_text(puzzle: PublicPuzzle) -> str:
    """The puzzle as plain text for solvers that read prose (agents, MCP clients)."""
    lines = [
        "Answer every clue. The first letters of the answers, in order, spell a hidden word.",
        f"Submit {'the hidden word' if len(puzzle.gates) == 1 else 'each hidden word, in order'}.",
    ]
    for number, gate in enumerate(puzzle.gates, start=1):
        lines += ["", f"Hidden word {number} ({gate.length} letters):"]
        lines += [f"{i}. [{clue.domain}] {clue.text}" for i, clue in enumerate(gate.clues, start=1)]
    return "\n".join(lines)
