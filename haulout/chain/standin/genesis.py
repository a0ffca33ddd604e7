"""The stand-in ledger's genesis and faucet: the Clock at 0x6 and SUI coins for an address,
each minting recorded as a transaction in its own checkpoint as a localnet faucet's would be.
"""

from __future__ import annotations

import hashlib
import os
import struct

from haulout.chain.ledger import Ledger

from .executor import record_checkpoint
from .ledger import SCHEMA, SUI_COIN, Objects, Row, coin_contents, digest_text
from .move_types import Package
from .ptb import CLOCK
from .values import canonical_address

FAUCET_COINS = 5
FAUCET_COIN_MIST = 200 * 10**9
"""What one faucet request sends: five coins of 200 SUI (a Sui localnet faucet's default)."""


def init_ledger(chain: Ledger, pkg: Package) -> None:
    """Create the stand-in's tables, and genesis (checkpoint 0 with the Clock) once."""
    conn = chain.conn()
    conn.executescript(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT 1 FROM sui_checkpoints").fetchone() is None:
            digest = digest_text(bytes(32))
            Objects(conn, pkg).put(
                Row(
                    CLOCK,
                    "0x2::clock::Clock",
                    "0x2",
                    "shared",
                    None,
                    1,
                    1,
                    "",
                    digest,
                    0,
                    bytes.fromhex(CLOCK[2:]) + struct.pack("<Q", 0),
                )
            )
            record_checkpoint(conn, chain.now_ms(), digest)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def faucet(chain: Ledger, pkg: Package, recipient: str) -> list[tuple[str, int, str]]:
    """Mint coins for `recipient`: (coin id, amount, transaction digest) per coin."""
    recipient = canonical_address(recipient)
    conn = chain.conn()
    objs = Objects(conn, pkg)
    digest = digest_text(hashlib.blake2b(b"faucet" + os.urandom(16), digest_size=32).digest())
    sent = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for i in range(FAUCET_COINS):
            cid = (
                "0x"
                + hashlib.blake2b(
                    digest.encode() + i.to_bytes(8, "little"), digest_size=32
                ).hexdigest()
            )
            objs.put(
                Row(
                    cid,
                    SUI_COIN,
                    "0x2",
                    "address",
                    recipient,
                    None,
                    1,
                    "",
                    digest,
                    0,
                    coin_contents(cid, FAUCET_COIN_MIST),
                )
            )
            sent.append((cid, FAUCET_COIN_MIST, digest))
        total, _ = objs.balance(recipient)
        conn.execute(
            "INSERT INTO balances (address, amount) VALUES (?, ?) "
            "ON CONFLICT(address) DO UPDATE SET amount = excluded.amount",
            (recipient, total),
        )
        record_checkpoint(conn, chain.now_ms(), digest)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return sent
