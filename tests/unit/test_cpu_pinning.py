"""`haulout up --pin-cpus` places each service on one CPU, heaviest first on the least
loaded, so the relayer does not share its core with the busiest nodes."""

from __future__ import annotations

from haulout.cpu_pinning import plan


def test_two_cpus_split_relayer_and_nodes_evenly() -> None:
    services = ["relayer", "node-0", "node-1", "node-2", "node-3", "indexer"]
    got = plan(services, [0, 1])
    assert got == {
        "relayer": 0,
        "node-3": 0,
        "node-0": 1,
        "node-1": 1,
        "node-2": 1,
        "indexer": 1,
    }


def test_more_cpus_spread_the_nodes_and_one_cpu_pins_nothing() -> None:
    got = plan(["relayer", "node-0", "node-1", "node-2", "node-3"], [0, 1, 2, 3])
    assert got["relayer"] == 0 and sorted(got[f"node-{i}"] for i in range(4)) == [1, 1, 2, 3]
    assert plan(["relayer", "node-0"], [5]) == {}
