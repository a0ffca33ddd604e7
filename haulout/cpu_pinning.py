"""Which CPU each service of a one-machine system runs on, when asked to pin them.

Every service is one Python process whose threads share one interpreter lock: at most one
of them runs Python at a time, so a second core gains a service little, while its threads
waking each other across cores costs a lot. Measured with a small store's path on a 2-core
machine: a trip to a worker thread and back takes 110-160 µs of CPU when the threads may
run on both cores, 47-70 µs when the process is on one; the whole system (relayer, 4 nodes,
DevChain) spent about a third less CPU per small store pinned. So `haulout up --pin-cpus`
(and the load bench's `--pin-cpus`) places each service on one CPU, heaviest first on the
least loaded one; the kernel still balances everything else (clients, other programs).
Off by default: on a machine shared with other work, a pinned service cannot move away
from a busy core.
"""

from __future__ import annotations

import contextlib
import os

WEIGHTS = {"relayer": 2.5, "indexer": 0.5, "sui-standin": 1.0}
"""CPU a service takes per small store relative to one storage node (measured: the relayer
~11 ms, a node ~4.5 ms, the indexer and the stand-in little)."""


def available_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return []


def plan(services: list[str], cpus: list[int]) -> dict[str, int]:
    """A CPU for each service: by weight (`WEIGHTS`, 1 for a storage node), heaviest first,
    each on the CPU with the least weight so far (ties: the lower CPU). Empty with fewer
    than two CPUs: nothing to choose."""
    if len(cpus) < 2:
        return {}
    load = dict.fromkeys(cpus, 0.0)
    out: dict[str, int] = {}
    for name in sorted(services, key=lambda s: (-WEIGHTS.get(s, 1.0), s)):
        cpu = min(cpus, key=lambda c: (load[c], c))
        out[name] = cpu
        load[cpu] += WEIGHTS.get(name, 1.0)
    return out


def pin_self(cpu: int | None) -> None:
    """Restrict the calling process (its threads to come included) to `cpu`; nothing when
    None or when the system refuses (the service then runs unpinned)."""
    if cpu is None:
        return
    # not Linux, or a CPU gone offline: unpinned
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})
