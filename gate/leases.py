"""Budget leases: a process meters a block of a pass's budget locally, without the store.

Off by default (``GATE_PASS_LEASE=1``).  With a lease size N above 1, the round trip that meters
a pass charges the shared meter N uses at once (``Incr`` by N instead of 1; the same batch still
reads the revocation time and the epoch); the uses it got that are within the budget become this
process's lease, and the next requests on that pass in this process are decided from the lease
alone, with no store round trip, until it is spent or ``LEASE_SECONDS`` old.  A lease down to
a quarter of N is topped up back to N by the next request's round trip while the requests after
it go on taking the rest, so a busy pass rarely waits for the store; requests that find it spent
while a charge is in flight wait for that charge instead of each making one.

What it bounds (tests/test_leases.py races four replicas on one Redis):

- **Over-spend: none.**  Every use a lease serves was charged to the shared meter before it was
  served, so across any number of processes a pass serves at most its budget.
- **Under-serve**: a process that stops, or drops a lease for a refused pass, loses the uses it
  had leased and not served: at most N - 1 per pass per process.  A lease that merely lapses
  gives its rest back (it is netted against the next charge).
- **Staleness**: a revocation or a store reset reaches a leased pass within ``LEASE_SECONDS``; in
  that time it serves at most N - 1 more uses per process.  Operator blocks need no store and
  apply at once.
- **Counting**: uses served from a lease reach the client's rate counter and ledger with the
  pass's next metered round trip in that process (a process that stops loses at most N - 1).
- ``Gate-Budget-Remaining`` is this process's view: exact with one process, a little high while
  other processes spend the same pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LEASE_SECONDS", "Grant", "Leases"]

LEASE_SECONDS = 1.0
"""How long a lease serves before the pass is metered (and its revocation read) again."""

_MAX_LEASES = 65_536
"""Leases kept per process; the oldest is dropped beyond this (its rest is lost: under-serve)."""


@dataclass(slots=True)
class _Lease:
    left: int  # uses charged to the shared meter and not served yet
    until: float  # gate clock time after which the pass is metered again
    shared_left: int  # budget minus the shared meter, when the lease was last charged
    unflushed: int = 0  # uses served from the lease, not yet in the rate counter and ledger


@dataclass(slots=True)
class _Charge:
    """A lease charge in flight: ``done`` is set when it settles; ``leased`` when it left uses
    in the lease for other requests."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    leased: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """What the metering round trip should do for a pass: charge ``amount`` uses (this request's
    and the lease's), and count ``unflushed`` earlier leased uses into the rate and ledger."""

    amount: int
    unflushed: int
    returned: int  # a lapsed lease's rest, netted into ``amount``
    leasing: bool  # this charge buys the lease; others meanwhile charge one use each
    charge: _Charge | None = None  # the requests waiting for it (leasing charges)


class Leases:
    """The leases of one process, by pass id.  ``size`` is N (1: leases off)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"lease size must be at least 1, got {size}")
        self.size = size
        # The low-water mark: a lease down to this many uses is topped up by the next request
        # (0 for N < 4: refilled when spent).
        self._low = size // 4
        self._leases: dict[str, _Lease] = {}
        # Passes whose lease charge is in flight.  Requests on them meanwhile wait for it
        # (``take_waiting``) and take from the new lease; any that go to the store meanwhile
        # charge one use each: concurrent charges of N would stack leases in one process
        # beyond N - 1.
        self._charging: dict[str, _Charge] = {}

    def take(self, pass_id: str, now: float) -> int | None:
        """Serve one use from the pass's lease: the remaining budget to report, or None when the
        pass must be metered through the store (no lease, spent, or lapsed)."""
        lease = self._leases.get(pass_id)
        if lease is None or now >= lease.until:
            return None
        if lease.left <= 0 or (
            lease.left <= self._low and lease.shared_left > 0 and pass_id not in self._charging
        ):
            # Below the low-water mark (and with budget left to buy) this request tops the
            # lease up while the next ones go on taking the rest: a busy pass rarely waits for
            # a round trip.
            return None
        lease.left -= 1
        lease.unflushed += 1
        return lease.shared_left + lease.left

    def charge(self, pass_id: str, now: float) -> Grant:
        """What to charge for a request that ``take`` sent to the store."""
        if self.size == 1 or pass_id in self._charging:
            return Grant(1, 0, 0, leasing=False)
        charge = self._charging[pass_id] = _Charge()
        lease = self._leases.get(pass_id)
        if lease is None:
            return Grant(self.size, 0, 0, leasing=True, charge=charge)
        returned = lease.left if now >= lease.until else 0
        lease.left -= returned
        unflushed, lease.unflushed = lease.unflushed, 0
        # Up to N held again: a lapsed rest is netted in, an unlapsed one topped up.
        amount = self.size - returned - lease.left
        return Grant(amount, unflushed, returned, leasing=True, charge=charge)

    def settle(self, pass_id: str, grant: Grant) -> None:
        """The charge ``grant`` came back (or failed): the next request may lease again."""
        if grant.leasing and grant.charge is not None:
            if self._charging.get(pass_id) is grant.charge:
                del self._charging[pass_id]
            grant.charge.done.set()

    def pending(self, pass_id: str) -> bool:
        """Whether a lease charge for ``pass_id`` is in flight (``take_waiting`` waits for it)."""
        return pass_id in self._charging

    async def take_waiting(self, pass_id: str, clock: Callable[[], float]) -> int | None:
        """``take``, after waiting for the charges in flight on the pass for as long as they
        bring leases: one round trip in flight per pass and process, however many requests on
        it arrive meanwhile, instead of one each.  None: go to the store (no charge in flight,
        or the last one was refused or left nothing over)."""
        leased = self.take(pass_id, clock())
        while leased is None:
            charge = self._charging.get(pass_id)
            if charge is None:
                return None
            await charge.done.wait()
            leased = self.take(pass_id, clock())
            if not charge.leased:
                return leased
        return leased

    def granted(self, pass_id: str, grant: Grant, used: int, budget: int, now: float) -> int:
        """Record the store's answer (the shared meter ``used`` after ``grant.amount``) for a
        pass found valid; returns the uses this process now holds, this request's included
        (0: exhausted).  The request takes one of them; the rest become the lease."""
        first = used - grant.amount + 1  # the first use this charge bought
        bought = max(0, min(grant.amount, budget - first + 1))
        held = grant.returned + bought
        if not grant.leasing:
            return held
        lease = self._leases.pop(pass_id, None)  # re-inserted: the newest lives longest
        if lease is None:
            lease = _Lease(left=0, until=0.0, shared_left=0)
        if held > 0:
            if held > 1 and grant.charge is not None:
                # Its waiters run after this (no await in between): they find the lease full.
                grant.charge.leased = True
            lease.left += held - 1
            lease.until = now + LEASE_SECONDS
            lease.shared_left = max(0, budget - used)
        elif lease.left > 0:
            # A top-up found the shared meter spent (other processes took the rest): this
            # request takes a use this process already holds (its count is in this batch).
            lease.left -= 1
            lease.shared_left = 0
            held = 1
        if lease.left > 0 or lease.unflushed:
            if len(self._leases) >= _MAX_LEASES:
                self._leases.pop(next(iter(self._leases)))
            self._leases[pass_id] = lease
        return held

    def held(self, pass_id: str) -> int:
        """Uses the pass's lease still holds (0 without one)."""
        lease = self._leases.get(pass_id)
        return lease.left if lease is not None else 0

    def drop(self, pass_id: str) -> None:
        """Forget a pass the store refused (revoked, reset): its lease must serve nothing more."""
        self._leases.pop(pass_id, None)
