"""Run ``gate`` as the soak's gateways with bench-only instruments (never in production).

- ``TRACE_DIR``: tracemalloc on, a snapshot every ``TRACE_EVERY`` seconds into that folder
  (``bench/soak.py --trace DIR``).  Compare them with ``python bench/soak_gate.py --compare DIR [N]``
  (top allocation sites by traceback, growth from snapshot N to the last).  Snapshots are taken
  from a daemon thread, so the server needs no hook; ``gc.collect()`` first, so garbage awaiting
  collection is not read as growth.
- ``SOAK_HEAP_EVERY``: every that many seconds, a line ``soak-heap <blocks>`` on stderr with
  ``sys.getallocatedblocks()`` (Python's live memory blocks; cheap, unlike tracemalloc): flat
  blocks under a growing resident size is the allocator keeping freed memory, not live objects.
- ``SOAK_PASS_CACHE``: the verified-pass cache's bound (default 65,536 entries, about 32 MiB
  filled; ``bench/memory_bounds.py``), so a soak of minutes can show the plateau it reaches
  (``bench/soak.py --pass-cache N``).
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _snapshots(into: Path, every: float) -> None:
    taken = 0
    while True:
        time.sleep(every)
        gc.collect()
        taken += 1
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(str(into / f"snap-{os.getpid()}-{taken:03d}.pickle"))


def _heap_lines(every: float) -> None:
    while True:
        time.sleep(every)
        print(f"soak-heap {sys.getallocatedblocks()}", file=sys.stderr, flush=True)


def compare(folder: Path, top: int = 25, start: int = 1) -> None:
    """Print, per process, the sites that grew most from snapshot ``start`` to the last."""
    by_pid: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("snap-*.pickle")):
        try:  # the last one may be cut short: the gateway stopped while writing it
            tracemalloc.Snapshot.load(str(path))
        except (EOFError, pickle.UnpicklingError):
            continue
        by_pid.setdefault(path.name.split("-")[1], []).append(path)
    for pid, paths in by_pid.items():
        if len(paths) <= start:
            continue
        first = tracemalloc.Snapshot.load(str(paths[start - 1]))
        last = tracemalloc.Snapshot.load(str(paths[-1]))
        totals = [
            sum(s.size for s in tracemalloc.Snapshot.load(str(p)).statistics("filename")) >> 10
            for p in paths
        ]
        print(f"== pid {pid}: traced KiB per snapshot {totals}")
        for stat in last.compare_to(first, "traceback")[:top]:
            print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format(limit=8)[-16:]:
                print("    " + line)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        compare(Path(sys.argv[2]), start=int(sys.argv[3]) if len(sys.argv) > 3 else 1)
        sys.exit(0)
    if "SOAK_PASS_CACHE" in os.environ:
        from gate.passes import PassCodec

        assert PassCodec.__init__.__kwdefaults__ is not None
        PassCodec.__init__.__kwdefaults__["cache_size"] = int(os.environ["SOAK_PASS_CACHE"])
    if "SOAK_HEAP_EVERY" in os.environ:
        every = float(os.environ["SOAK_HEAP_EVERY"])
        threading.Thread(target=_heap_lines, args=(every,), daemon=True).start()
    if "TRACE_DIR" in os.environ:
        tracemalloc.start(int(os.environ.get("TRACE_FRAMES", "12")))
        folder = Path(os.environ["TRACE_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        every = float(os.environ.get("TRACE_EVERY", "30"))
        threading.Thread(target=_snapshots, args=(folder, every), daemon=True).start()
    from gate.cli import app

    sys.argv[0] = "gate"
    app()
