"""The project's own adversaries, run live through HTTP against a real ``gate proxy``.

What the gate promises (docs/DESIGN "What the gate promises"): a solver with no model pays at
least in time.  This bench tries to break that with four model-free adversaries, per tier:

(a) ``template``: inverts the phrasings of the public clue generators (read from their code) and
    answers from public fact packages; ``replay`` runs the public generators themselves and looks
    texts up (the ceiling of reading the code against a bank those generators built);
(b) ``learner``: remembers clue texts it saw solved (by an oracle that stands for a model) and
    answers from memory; pass rate after 100 / 1k / 10k observed solves;
(c) ``frequency``: reads no clue, ranks the word list by length and letter supply;
(d) ``cryptogram``: harvests unsolved challenges from many identities and solves the text ->
    letter substitution so every harvested gate spells a list word; pass rate after 100 / 1k / 10k.

For each: first-attempt pass rate, pass rate within the challenge's attempts (5), and passes per
hour for one identity solving sequentially with the rule's default solve-time floor, against an
honest "model-speed" client that answers correctly ``price / decode_rate`` seconds after issue.

Only the wire protocol (docs/protocol.md), documented CLI flags, ``GATE_*`` variables and a policy
file are used.  The solvers read generator code and public packages; only ``bench/shortcut_oracle.py``
reads the bank.

    python bench/shortcut.py --quick            # ~1-2 minutes
    python bench/shortcut.py                    # 10k observed / 10k harvested; many minutes
    python bench/shortcut.py --state-dir .gate  # also writes .gate/shortcut-exposure.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.shortcut_harness import (  # noqa: E402  (after the path fix-up)
    TIMED_PATH,
    BankDry,
    Challenge,
    Client,
    GateProcess,
    GateSpec,
    Protocol,
    RateLimited,
    Upstream,
    identity,
    seed_bank,
)
from bench.shortcut_oracle import Oracle  # noqa: E402
from bench.shortcut_solvers import (  # noqa: E402
    Cryptogram,
    Dist,
    FrequencyGuesser,
    Learner,
    ReplaySolver,
    TemplateSolver,
    WordGuesser,
    initial_prior,
    top_letter,
)

DEFAULT_JSON = ROOT / "bench" / "results" / "shortcut.json"
ATTEMPTS = 5


class Solver:  # what every adversary offers: (domain, text) -> initial distribution or None
    name: str

    def solve(self, domain: str, text: str) -> Dist | None: ...


@dataclass(slots=True)
class EvalStats:
    """Fresh challenges attacked by one adversary."""

    challenges: int = 0
    first: int = 0
    within: int = 0
    attempts: int = 0
    dry: int = 0  # 503s: the bank ran out
    clues: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    # source -> [clues, answered, correct] (scored against the oracle)
    domains: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def as_dict(self) -> dict[str, object]:
        n = max(self.challenges, 1)
        return {
            "challenges": self.challenges,
            "first_attempt_rate": self.first / n,
            "within_attempts_rate": self.within / n,
            "bank_dry_503": self.dry,
            "clues_by_source": {k: _clue_dict(v) for k, v in sorted(self.clues.items())},
            "clues_by_domain": {k: _clue_dict(v) for k, v in sorted(self.domains.items())},
        }


def _clue_dict(v: list[int]) -> dict[str, float | int]:
    return {"clues": v[0], "answered": v[1], "correct": v[2], "correct_rate": v[2] / max(v[0], 1)}


class Ids:
    """Hands out client networks; every phase starts a fresh gate, so numbering restarts there."""

    def __init__(self, start: int = 1) -> None:
        self.next = start

    def take(self) -> str:
        ip = identity(self.next)
        self.next += 1
        if self.next >= 65536:
            self.next = 1
        return ip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def gate_dists(solver: Solver, ch: Challenge) -> list[list[Dist | None]]:
    return [[solver.solve(domain, text) for domain, text in gate] for gate in ch.gates]


async def attack_fresh(
    client: Client,
    solver: Solver,
    guesser: WordGuesser,
    oracle: Oracle,
    ids: Ids,
    n: int,
    concurrency: int,
) -> EvalStats:
    """``n`` fresh challenges from ``n`` fresh identities, each attacked with up to 5 guesses."""
    stats = EvalStats()
    sem = asyncio.Semaphore(concurrency)
    dry = asyncio.Event()

    async def one() -> None:
        if dry.is_set():
            return
        async with sem:
            ip = ids.take()
            try:
                ch = await client.challenge(ip)
            except BankDry:
                stats.dry += 1
                dry.set()
                return
            except RateLimited:
                return
            dists = gate_dists(solver, ch)
            for gate, gate_d in zip(ch.gates, dists, strict=True):
                for (domain, text), d in zip(gate, gate_d, strict=True):
                    truth = oracle.truth(text)
                    source = truth.source if truth else "?"
                    ok = bool(d) and truth is not None and top_letter(d) == truth.initial
                    for table, key in ((stats.clues, source), (stats.domains, domain)):
                        row = table[key]
                        row[0] += 1
                        row[1] += bool(d)
                        row[2] += ok
            guesses = guesser.guesses(dists, ATTEMPTS)
            outcome = await client.attempt_all(ch, guesses, ip, wait_floor=True)
            stats.challenges += 1
            stats.attempts += outcome.attempt
            stats.first += outcome.passed and outcome.attempt == 1
            stats.within += outcome.passed

    await asyncio.gather(*(one() for _ in range(n)))
    return stats


async def observe_solved(
    client: Client, oracle: Oracle, learner: Learner, ids: Ids, count: int, concurrency: int
) -> bool:
    """The oracle solves ``count`` challenges and the learner watches; False if the bank ran dry."""
    sem = asyncio.Semaphore(concurrency)
    dry = asyncio.Event()

    async def one() -> None:
        if dry.is_set():
            return
        async with sem:
            ip = ids.take()
            try:
                ch = await client.challenge(ip)
            except BankDry:
                dry.set()
                return
            except RateLimited:
                return
            words = oracle.solve(ch.texts)
            if words is None:
                return
            status, _ = await client.submit(ch, words, ip)
            if status == 200:
                learner.observe(ch.texts, words)  # the learner sees the clues and the solution

    await asyncio.gather(*(one() for _ in range(count)))
    return not dry.is_set()


async def harvest(
    client: Client, crypt: Cryptogram, ids: Ids, count: int, concurrency: int
) -> tuple[int, bool]:
    """Ask ``count`` identities for a challenge and keep the clues, never answering."""
    sem = asyncio.Semaphore(concurrency)
    dry = asyncio.Event()
    got = 0

    async def one() -> None:
        nonlocal got
        if dry.is_set():
            return
        async with sem:
            try:
                ch = await client.challenge(ids.take())
            except BankDry:
                dry.set()
                return
            except RateLimited:
                return
            crypt.harvest(ch.texts)
            got += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return got, not dry.is_set()


# --- passes per hour -----------------------------------------------------------------------------


@dataclass(slots=True)
class RateRun:
    name: str
    passes: int = 0
    challenges: int = 0
    attempts: int = 0
    seconds: float = 0.0
    dry: int = 0
    throttled: int = 0
    too_early_wait: float = 0.0
    prices: list[int] = field(default_factory=list)

    @property
    def per_hour(self) -> float:
        return self.passes / self.seconds * 3600 if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "passes": self.passes,
            "challenges": self.challenges,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 2),
            "passes_per_hour": round(self.per_hour, 1),
            "bank_dry_503": self.dry,
            "rate_limited_429": self.throttled,
            "too_early_wait_s": round(self.too_early_wait, 2),
            "mean_price": sum(self.prices) / len(self.prices) if self.prices else None,
        }


async def sequential(
    client: Client,
    name: str,
    guess: Callable[[Challenge], list[list[str]]],
    ip: str,
    duration: float,
    think: Callable[[Challenge], float] | None = None,
) -> RateRun:
    """One identity solving one challenge after another for ``duration`` seconds, by the book:
    it waits out ``not_before``, ``429 too_early`` and ``429 rate_limited``, and a 503."""
    run = RateRun(name)
    start = time.monotonic()
    while time.monotonic() - start < duration:
        try:
            ch = await client.challenge(ip)
        except RateLimited as limited:
            run.throttled += 1
            await asyncio.sleep(limited.retry_after)
            continue
        except BankDry:
            run.dry += 1
            await asyncio.sleep(5)  # the 503's Retry-After
            continue
        run.challenges += 1
        run.prices.append(ch.price)
        if think is not None:
            delay = ch.received + think(ch) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        outcome = await client.attempt_all(ch, guess(ch), ip, wait_floor=True)
        run.attempts += outcome.attempt
        run.too_early_wait += outcome.waited_too_early
        run.passes += outcome.passed
    run.seconds = time.monotonic() - start
    return run


# --- one tier ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Settings:
    tiers: list[int]
    price: int
    decode_rate: float
    observe: list[int]
    harvest: list[int]
    eval_n: int
    rate_seconds: float
    concurrency: int
    serve_limit: int | None
    timed_floor: float | None
    workdir: Path
    template_db: Path


async def run_tier(
    cfg: Settings, tier: int, upstream: Upstream, guesser: WordGuesser, solvers: dict[str, Solver]
) -> dict[str, object]:
    """One tier on two gates, side by side: *learn* for (a), (c) and (b), *harvest* for (d).

    Each gate has a floorless rule for the bulk phases and a rule with the default floor for the
    sequential passes-per-hour runs, so every adversary is timed on the deployment it learned
    from (a fresh copy of the deterministic bank would hand the learner texts it saw elsewhere,
    which the replay row already covers)."""
    result: dict[str, object] = {"tier": tier}
    protocol = Protocol()
    started: list[GateProcess] = []
    runs: dict[str, RateRun] = {}
    evals: dict[str, object] = {}

    async def gate(name: str) -> GateProcess:
        # started in a thread: waiting for the port must not stall the other tiers' clocks
        g = await asyncio.to_thread(
            GateProcess,
            GateSpec(
                tier=tier,
                price=cfg.price,
                solve_floor=0.0,
                serve_limit=cfg.serve_limit,
                timed_floor=cfg.timed_floor,
            ),
            cfg.workdir,
            cfg.template_db,
            upstream,
            f"tier{tier}-{name}",
        )
        started.append(g)
        return g

    def guess_with(solver: Solver) -> Callable[[Challenge], list[list[str]]]:
        return lambda ch: guesser.guesses(gate_dists(solver, ch), ATTEMPTS)

    async def timed(
        client: Client,
        name: str,
        fn: Callable[[Challenge], list[list[str]]],
        n: int,
        think: Callable[[Challenge], float] | None = None,
    ) -> RateRun:
        return await sequential(client, name, fn, identity(60000 + n), cfg.rate_seconds, think)

    async def learn_branch(g: GateProcess) -> None:
        result["floor_policy_key_supported"] = g.floor_supported
        oracle = Oracle(g.db)
        client = Client(g.base, protocol, cfg.concurrency)
        timed_client = Client(g.base, protocol, cfg.concurrency, path=TIMED_PATH)
        ids = Ids()
        with contextlib.suppress(BankDry, RateLimited):
            await client.check_same_on_rerequest(ids.take())
        for name in ("template", "replay", "frequency"):
            stats = await attack_fresh(
                client, solvers[name], guesser, oracle, ids, cfg.eval_n, cfg.concurrency
            )
            evals[name] = stats.as_dict()
            log(f"tier {tier} {name}: {stats.within}/{stats.challenges} passed")

        def model_guess(ch: Challenge) -> list[list[str]]:
            words = oracle.solve(ch.texts)
            return [words] if words else []

        log(f"tier {tier}: sequential runs (template, replay, frequency, model-speed)")
        first = await asyncio.gather(
            *(
                timed(timed_client, n, guess_with(solvers[n]), i)
                for i, n in enumerate(("template", "replay", "frequency"))
            ),
            timed(
                timed_client, "model-speed", model_guess, 9, lambda ch: ch.price / cfg.decode_rate
            ),
        )
        runs.update({r.name: r for r in first})

        learner = Learner()
        curve: list[dict[str, object]] = []
        seen = 0
        for checkpoint in cfg.observe:
            t0 = time.monotonic()
            ok = await observe_solved(
                client, oracle, learner, ids, checkpoint - seen, cfg.concurrency
            )
            seen = checkpoint
            stats = await attack_fresh(
                client, learner, guesser, oracle, ids, cfg.eval_n, cfg.concurrency
            )
            curve.append(
                {
                    "observed_target": checkpoint,
                    "observed_solved": learner.observed,
                    "distinct_texts_remembered": len(learner.memory),
                    "bank_dry_while_observing": not ok,
                    "observe_seconds": round(time.monotonic() - t0, 1),
                    **stats.as_dict(),
                }
            )
            log(
                f"tier {tier} learner after {learner.observed}: {stats.within}/{stats.challenges} passed"
            )
            if not ok or stats.dry:
                break
        # the last point that could still be measured (a dry bank serves no fresh challenge)
        measured = [p for p in curve if p["challenges"]]
        evals["learner"] = (measured or curve or [{}])[-1]
        result["learner_curve"] = curve
        log(f"tier {tier}: sequential run (learner)")
        runs["learner"] = await timed(timed_client, "learner", guess_with(learner), 5)
        await client.close()
        await timed_client.close()
        g.close()

    async def harvest_branch(g: GateProcess) -> None:
        """(d): many identities ask and never answer; then fresh challenges are attacked."""
        oracle = Oracle(g.db)
        client = Client(g.base, protocol, cfg.concurrency)
        timed_client = Client(g.base, protocol, cfg.concurrency, path=TIMED_PATH)
        ids = Ids()
        crypt = Cryptogram(guesser)
        curve: list[dict[str, object]] = []
        asked = 0
        for checkpoint in cfg.harvest:
            t0 = time.monotonic()
            _, ok = await harvest(client, crypt, ids, checkpoint - asked, cfg.concurrency)
            asked = checkpoint
            t1 = time.monotonic()
            await asyncio.to_thread(crypt.fit)  # CPU work off the loop: other clients keep time
            fit_s = time.monotonic() - t1
            stats = await attack_fresh(
                client, crypt, guesser, oracle, ids, cfg.eval_n, cfg.concurrency
            )
            curve.append(
                {
                    "harvest_target": checkpoint,
                    "gates_harvested": len(crypt.gates),
                    "clue_texts_harvested": sum(len(x) for x in crypt.gates),
                    "distinct_texts": len(crypt.index),
                    "bank_dry_while_harvesting": not ok,
                    "harvest_seconds": round(t1 - t0, 1),
                    "fit_seconds": round(fit_s, 1),
                    **stats.as_dict(),
                }
            )
            log(
                f"tier {tier} cryptogram after {len(crypt.gates)} (fit {fit_s:.1f}s): "
                f"{stats.within}/{stats.challenges} passed"
            )
            if not ok or stats.dry:
                break
        measured = [p for p in curve if p["challenges"]]
        evals["cryptogram"] = (measured or curve or [{}])[-1]
        result["cryptogram_curve"] = curve
        log(f"tier {tier}: sequential run (cryptogram)")
        runs["cryptogram"] = await timed(timed_client, "cryptogram", guess_with(crypt), 6)
        await client.close()
        await timed_client.close()
        g.close()

    try:
        # both gates start at once: loading a large bank takes a while on two cores
        learn_gate, crypt_gate = await asyncio.gather(gate("learn"), gate("harvest"))
        await asyncio.gather(learn_branch(learn_gate), harvest_branch(crypt_gate))
    finally:
        for g in started:
            g.close()
    result["evals"] = evals
    model = runs["model-speed"]
    result["rate"] = {
        name: {
            **r.as_dict(),
            "ratio_to_model_speed": (r.per_hour / model.per_hour) if model.per_hour else None,
        }
        for name, r in runs.items()
    }
    result["protocol"] = protocol.as_dict()
    return result


# --- reporting -----------------------------------------------------------------------------------


ADVERSARIES = ("template", "replay", "learner", "frequency", "cryptogram")


def _pct(x: object) -> str:
    return f"{100 * float(x):.1f}%" if isinstance(x, int | float) else "-"


def rows(results: list[dict]) -> list[list[str]]:
    out = []
    for res in results:
        tier = res["tier"]
        rate = res.get("rate", {})
        model = rate.get("model-speed", {})
        for name in (*ADVERSARIES, "model-speed"):
            ev = res.get("evals", {}).get(name, {})
            rr = rate.get(name, {})
            note = ""
            if name == "learner" and ev:
                note = f"after {ev.get('observed_solved')} observed"
            if name == "cryptogram" and ev:
                note = f"after {ev.get('gates_harvested')} harvested"
            clue_total = sum(v["clues"] for v in ev.get("clues_by_source", {}).values())
            clue_ok = sum(v["correct"] for v in ev.get("clues_by_source", {}).values())
            ratio = rr.get("ratio_to_model_speed")
            out.append(
                [
                    str(tier),
                    name,
                    str(ev.get("challenges", "-")) if ev else "-",
                    _pct(ev.get("first_attempt_rate"))
                    if ev
                    else ("100.0%" if name == "model-speed" else "-"),
                    _pct(ev.get("within_attempts_rate"))
                    if ev
                    else ("100.0%" if name == "model-speed" else "-"),
                    _pct(clue_ok / clue_total) if clue_total else "-",
                    f"{rr.get('passes_per_hour', 0):.0f}" if rr else "-",
                    f"{ratio:.2f}" if isinstance(ratio, float) else "-",
                    "; ".join(
                        part
                        for part in (
                            note,
                            f"timed: {rr.get('passes', 0)}/{rr.get('challenges', 0)} passed, "
                            f"mean price {rr['mean_price']:.0f}"
                            if rr.get("mean_price")
                            else "",
                            f"{rr['bank_dry_503']}x 503" if rr.get("bank_dry_503") else "",
                        )
                        if part
                    ),
                ]
            )
        del model
    return out


HEADERS = [
    "tier",
    "adversary",
    "n",
    "1st try",
    "within 5",
    "clues right",
    "passes/h",
    "vs model",
    "note",
]


def print_tables(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=170)
    table = Table(title="Shortcut adversaries against a live gate")
    for h in HEADERS:
        table.add_column(h, justify="right" if h not in ("adversary", "note") else "left")
    for row in rows(results):
        table.add_row(*row)
    console.print(table)
    curves = Table(title="Learning curves (fresh challenges)")
    for h in (
        "tier",
        "adversary",
        "seen",
        "distinct texts",
        "1st try",
        "within 5",
        "clues right",
        "bank dry",
    ):
        curves.add_column(h)
    for res in results:
        for point in res.get("learner_curve", []):
            curves.add_row(
                str(res["tier"]),
                "learner",
                str(point["observed_solved"]),
                str(point["distinct_texts_remembered"]),
                _pct(point["first_attempt_rate"]),
                _pct(point["within_attempts_rate"]),
                _clue_rate(point),
                str(point["bank_dry_while_observing"]),
            )
        for point in res.get("cryptogram_curve", []):
            curves.add_row(
                str(res["tier"]),
                "cryptogram",
                str(point["gates_harvested"]),
                str(point["distinct_texts"]),
                _pct(point["first_attempt_rate"]),
                _pct(point["within_attempts_rate"]),
                _clue_rate(point),
                str(point["bank_dry_while_harvesting"]),
            )
    console.print(curves)
    by_source = Table(title="Clue exposure by bank source (share of clues answered right)")
    by_source.add_column("tier")
    by_source.add_column("source")
    for name in ADVERSARIES:
        by_source.add_column(name)
    for res in results:
        sources = sorted(
            {s for ev in res.get("evals", {}).values() for s in ev.get("clues_by_source", {})}
        )
        for s in sources:
            cells = []
            for name in ADVERSARIES:
                v = res.get("evals", {}).get(name, {}).get("clues_by_source", {}).get(s)
                cells.append(f"{_pct(v['correct_rate'])} ({v['clues']})" if v else "-")
            by_source.add_row(str(res["tier"]), s, *cells)
    console.print(by_source)


def _clue_rate(ev: dict) -> str:
    total = sum(v["clues"] for v in ev.get("clues_by_source", {}).values())
    ok = sum(v["correct"] for v in ev.get("clues_by_source", {}).values())
    return _pct(ok / total) if total else "-"


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        f"### Shortcut adversaries ({meta['date']}, {meta['machine']}, `{meta['command']}`)",
        "",
        f"Bank: {meta['bank']}; serve limit: {meta['serve_limit']}; "
        f"timed rule's floor: {meta['timed_floor']}; price {meta['price']} tokens; "
        f"decode rate {meta['decode_rate']:g} tokens/s; protocol seen: {meta['protocol_summary']}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for row in rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    lines += [
        "",
        "Learning curves on fresh challenges (within 5 attempts; seen = solved challenges observed"
        " or unsolved challenges harvested; dry = the bank ran out while learning):",
        "",
        "| tier | adversary | seen | distinct texts | 1st try | within 5 | clues right | dry |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for key, name, seen, dry in (
            ("learner_curve", "learner", "observed_solved", "bank_dry_while_observing"),
            ("cryptogram_curve", "cryptogram", "gates_harvested", "bank_dry_while_harvesting"),
        ):
            for p in res.get(key, []):
                distinct = p.get("distinct_texts_remembered", p.get("distinct_texts"))
                lines.append(
                    f"| {res['tier']} | {name} | {p[seen]} | {distinct} | "
                    f"{_pct(p['first_attempt_rate'])} | {_pct(p['within_attempts_rate'])} | "
                    f"{_clue_rate(p)} | {'yes' if p[dry] else 'no'} |"
                )
    lines += [
        "",
        "Clue exposure by bank source (share of served clues whose initial the adversary got"
        " right, scored against the bank; all tiers):",
        "",
        "| source | " + " | ".join(ADVERSARIES) + " |",
        "|---|" + "---|" * len(ADVERSARIES),
    ]
    for source, per in sorted(exposure(results, meta)["sources"].items()):  # type: ignore[union-attr]
        cells = [
            f"{_pct(per[a]['correct_rate'])} ({per[a]['clues']})" if a in per else "-"
            for a in ADVERSARIES
        ]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def exposure(results: list[dict], meta: dict) -> dict[str, object]:
    """Per bank source, the share of its clues each adversary answered: for the dashboard."""
    sources: dict[str, dict[str, dict[str, float | int]]] = defaultdict(dict)
    for res in results:
        for name, ev in res.get("evals", {}).items():
            for source, v in ev.get("clues_by_source", {}).items():
                cell = sources[source].setdefault(name, {"clues": 0, "correct": 0})
                cell["clues"] += v["clues"]
                cell["correct"] += v["correct"]
    for per in sources.values():
        for cell in per.values():
            cell["correct_rate"] = cell["correct"] / max(int(cell["clues"]), 1)
    return {"generated_at": meta["date"], "command": meta["command"], "sources": dict(sources)}


def protocol_summary(results: list[dict]) -> str:
    p = [res.get("protocol", {}) for res in results]
    if not p:
        return "-"
    flags = []
    flags.append(
        "clue ids " + ("present" if any(x.get("clue_ids_in_json") for x in p) else "absent")
    )
    flags.append(
        "not_before " + ("present" if any(x.get("not_before_in_json") for x in p) else "absent")
    )
    flags.append(f"429 too_early seen {sum(x.get('too_early_429_seen', 0) for x in p)}x")
    same = {x.get("same_challenge_on_rerequest") for x in p}
    flags.append(f"same challenge on re-request: {'/'.join(str(s) for s in same)}")
    basis = sorted({b for x in p for b in x.get("price_basis", [])})
    flags.append("price_basis " + (",".join(basis) if basis else "absent"))
    return "; ".join(flags)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small N, about a minute or two")
    ap.add_argument("--tiers", default="1,2,3")
    ap.add_argument("--price", type=int, default=1500, help="the rule's price (solver tokens)")
    ap.add_argument("--decode-rate", type=float, default=250.0, help="model-speed client, tokens/s")
    ap.add_argument("--observe", default=None, help="learner checkpoints (default 100,1000,10000)")
    ap.add_argument(
        "--harvest", default=None, help="cryptogram checkpoints (default 100,1000,10000)"
    )
    ap.add_argument("--eval", type=int, default=None, help="fresh challenges per evaluation")
    ap.add_argument("--rate-seconds", type=float, default=None, help="sequential run per client")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--serve-limit", type=int, default=None, help="GATE_SERVE_LIMIT (default: the gate's)"
    )
    ap.add_argument(
        "--timed-floor",
        type=float,
        default=None,
        help="solve_floor of the timed rule (default: the gate's own, price / decode rate); "
        "0 shows what the floor holds back",
    )
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument(
        "--render", type=Path, default=None, help="only print the report of an earlier JSON file"
    )
    ap.add_argument(
        "--state-dir", type=Path, default=None, help="also write shortcut-exposure.json here"
    )
    ap.add_argument(
        "--append-docs", action="store_true", help="append the markdown block to docs/benchmarks.md"
    )
    ap.add_argument(
        "--bank",
        choices=("auto", "seed", "build"),
        default="auto",
        help="seed: built-in clues; build: also `gate puzzles build`; auto: build if the CLI has it",
    )
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "reasoning-gate-shortcut",
        help="reuse a bank (and the replay table) built from the same generator sources",
    )
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="keep gate state here (default: a temp dir)"
    )
    return ap.parse_args(argv)


def render(path: Path, append_docs: bool, state_dir: Path | None) -> int:
    """Print (and append, write) the report of an earlier run from its JSON file."""
    data = json.loads(path.read_text())
    meta = data["meta"]
    meta.setdefault("timed_floor", "gate default")
    print_tables(data["tiers"])
    block = markdown(data["tiers"], meta)
    print(block)
    if append_docs:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + block)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "shortcut-exposure.json").write_text(
            json.dumps(exposure(data["tiers"], meta), indent=2) + "\n"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        return render(args.render, args.append_docs, args.state_dir)
    quick = args.quick
    observe = [
        int(x) for x in (args.observe or ("50,200" if quick else "100,1000,10000")).split(",")
    ]
    harvest_points = [
        int(x) for x in (args.harvest or ("50,200" if quick else "100,1000,10000")).split(",")
    ]
    eval_n = args.eval or (30 if quick else 300)
    rate_seconds = args.rate_seconds or (20.0 if quick else 120.0)
    tiers = [int(t) for t in args.tiers.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shortcut-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()

    cache = None if args.no_cache else args.cache_dir
    template_db, bank_how = seed_bank(workdir / "seed", args.bank, cache)
    log(f"bank: {bank_how}")
    from puzzles.words import load_words  # the public hidden-word list shipped with the package

    # replaying the large generated bank costs a minute of generation: only when it was built
    replay = ReplaySolver(graph="build" in bank_how, cache=cache)
    # the letter-supply prior from the same public generator output (what the bank was built from)
    guesser = WordGuesser(load_words(), prior=initial_prior(replay.table.values() or None))
    solvers: dict[str, Solver] = {
        "template": TemplateSolver(),
        "replay": replay,
        "frequency": FrequencyGuesser(),
    }
    cfg = Settings(
        tiers=tiers,
        price=args.price,
        decode_rate=args.decode_rate,
        observe=observe,
        harvest=harvest_points,
        eval_n=eval_n,
        rate_seconds=rate_seconds,
        concurrency=args.concurrency,
        serve_limit=args.serve_limit,
        timed_floor=args.timed_floor,
        workdir=workdir,
        template_db=template_db,
    )
    upstream = Upstream(workdir)

    async def run_all() -> list[dict]:
        # tiers side by side: each has its own gates, and most of a run is waiting on floors
        return list(
            await asyncio.gather(*(run_tier(cfg, t, upstream, guesser, solvers) for t in tiers))
        )

    try:
        results = asyncio.run(run_all())
    finally:
        upstream.close()
    command = "python bench/shortcut.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} VM, {len(__import__('os').sched_getaffinity(0))} vCPU",
        "command": command.strip(),
        "bank": bank_how,
        "serve_limit": args.serve_limit if args.serve_limit is not None else "gate default",
        "timed_floor": args.timed_floor if args.timed_floor is not None else "gate default",
        "price": args.price,
        "decode_rate": args.decode_rate,
        "replay_error": replay.error,
        "replay_texts": len(replay.table),
        "git": _git_head(),
        "seconds": round(time.monotonic() - t_start, 1),
    }
    meta["protocol_summary"] = protocol_summary(results)
    print_tables(results)
    block = markdown(results, meta)
    print(block)
    out = {"meta": meta, "settings": {k: str(v) for k, v in vars(args).items()}, "tiers": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
    if args.state_dir is not None:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        (args.state_dir / "shortcut-exposure.json").write_text(
            json.dumps(exposure(results, meta), indent=2) + "\n"
        )
    if args.append_docs:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + block)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"done in {meta['seconds']}s; results in {args.json}", file=sys.stderr)
    return 0


def _git_head() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
