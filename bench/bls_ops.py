"""CPU cost of each BLS operation a store pays, Haulout's (blst through `pyblst`) beside
arkworks (`py_arkworks_bls12381`, the library before, installed with the dev extra) as the
anchor: a node signs one confirmation per store (hash to G2, a G2 multiplication); the
relayer parses the quorum's signatures (subgroup checks) and verifies their sum with one
pairing check.

    python -m bench.bls_ops [--rounds 300]

Microseconds of process CPU time per operation (caches cleared before each), so the numbers
hold on a loaded machine better than wall-clock time would; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from haulout.protocol import bls


def _cpu_us(op: Callable[[], object], rounds: int) -> float:
    op()
    t0 = time.process_time()
    for _ in range(rounds):
        op()
    return (time.process_time() - t0) / rounds * 1e6


def _ours(rounds: int) -> dict[str, float]:
    pairs = [bls.BlsKeyPair.generate(os.urandom(32)) for _ in range(4)]
    message = os.urandom(120)
    signatures = [p.sign(message) for p in pairs]
    keys = [bls.parse_public_key(p.public_key) for p in pairs]

    def fresh() -> None:
        bls._parse_signature.cache_clear()
        bls._hash_to_g2.cache_clear()
        bls.parse_public_key.cache_clear()
        bls._VERIFIED.clear()

    def sign() -> None:
        fresh()
        pairs[0].sign(message)

    def hash_only() -> None:
        fresh()
        bls._hash_to_g2(message)

    def parse_key() -> None:
        fresh()
        bls.parse_public_key(pairs[1].public_key)

    def parse_signature() -> None:
        fresh()
        bls.parse_signature(signatures[1])

    def verify() -> None:
        fresh()
        assert bls.verify(keys[0], message, signatures[0])

    def verify_sum(k: int) -> Callable[[], None]:
        def run() -> None:
            fresh()
            assert bls.verify_sum(keys[:k], message, signatures[:k])

        return run

    return {
        "sign (hash to G2, multiply, encode)": _cpu_us(sign, rounds),
        "hash to G2": _cpu_us(hash_only, rounds),
        "parse key (subgroup check)": _cpu_us(parse_key, rounds),
        "parse signature (subgroup check)": _cpu_us(parse_signature, rounds),
        "verify one (parse, hash, pairing)": _cpu_us(verify, rounds),
        "verify sum of 3 (parse 3, hash, pairing)": _cpu_us(verify_sum(3), rounds),
        "verify sum of 4 (parse 4, hash, pairing)": _cpu_us(verify_sum(4), rounds),
    }


def _arkworks(rounds: int) -> dict[str, float]:
    from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

    secrets = [Scalar.from_le_bytes(bls.BlsKeyPair.generate().secret) for _ in range(4)]
    message = os.urandom(120)
    keys = [G1Point() * s for s in secrets]
    key_bytes = [k.to_compressed_bytes() for k in keys]
    signatures = [
        (G2Point.hash_to_curve(message, bls.DST) * s).to_compressed_bytes() for s in secrets
    ]
    minus_g1 = -G1Point()

    def verify_sum(k: int) -> Callable[[], object]:
        def run() -> object:
            total = G2Point.from_compressed_bytes(signatures[0])
            for s in signatures[1:k]:
                total = total + G2Point.from_compressed_bytes(s)
            key = keys[0]
            for x in keys[1:k]:
                key = key + x
            h = G2Point.hash_to_curve(message, bls.DST)
            return GT.pairing_check([key, minus_g1], [h, total])

        return run

    return {
        "sign (hash to G2, multiply, encode)": _cpu_us(
            lambda: (G2Point.hash_to_curve(message, bls.DST) * secrets[0]).to_compressed_bytes(),
            rounds,
        ),
        "hash to G2": _cpu_us(lambda: G2Point.hash_to_curve(message, bls.DST), rounds),
        "parse key (subgroup check)": _cpu_us(
            lambda: G1Point.from_compressed_bytes(key_bytes[1]), rounds
        ),
        "parse signature (subgroup check)": _cpu_us(
            lambda: G2Point.from_compressed_bytes(signatures[1]), rounds
        ),
        "verify one (parse, hash, pairing)": _cpu_us(verify_sum(1), rounds),
        "verify sum of 3 (parse 3, hash, pairing)": _cpu_us(verify_sum(3), rounds),
        "verify sum of 4 (parse 4, hash, pairing)": _cpu_us(verify_sum(4), rounds),
    }


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    ours = _ours(a.rounds)
    try:
        anchor: dict[str, float] | None = _arkworks(a.rounds)
    except ImportError:
        anchor = None
    print(
        f"BLS CPU us per operation; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'operation':44s} {'blst':>8s} {'arkworks':>9s} {'ratio':>6s}")
    for name, us in ours.items():
        if anchor is None:
            print(f"{name:44s} {us:8.0f} {'-':>9s}")
        else:
            print(f"{name:44s} {us:8.0f} {anchor[name]:9.0f} {anchor[name] / us:6.1f}")


if __name__ == "__main__":
    main()
