"""DevChain's ledger: objects, balances, events and transactions in one SQLite file.

WAL mode and `BEGIN IMMEDIATE` let every local process share the file without losing an
update. Transactions are JSON command lists (`machine.registry`) signed with Ed25519 and
checked; each runs atomically through the state-machine mirrors, an abort changes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haulout.protocol.hashing import blake2b256

from .accounts import Account, verify_transaction
from .client import Executed
from .errors import InvalidTransaction, InvalidTransactionSignature, NotDeployed, ObjectNotFound
from .events import ChainEvent, parse_event
from .machine import run
from .objects import ExecutedTransaction
from .txcontext import TxContext

MIST_PER_SUI = 1_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, owner TEXT, version INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (address TEXT PRIMARY KEY, amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_digest TEXT NOT NULL, sender TEXT NOT NULL,
  timestamp_ms INTEGER NOT NULL, type TEXT NOT NULL, fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (digest TEXT PRIMARY KEY, sender TEXT NOT NULL, ts INTEGER);
CREATE TABLE IF NOT EXISTS tx_effects (
  digest TEXT PRIMARY KEY, inputs TEXT NOT NULL, balance_changes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class TxResult(Executed):
    """Outcome of one DevChain transaction: also each command's result."""

    results: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """An object as stored: type, owner (None when shared), version, fields."""

    id: str
    type: str
    owner: str | None
    version: int
    data: dict[str, Any]


class Ledger:
    """One SQLite ledger file. `clock` returns milliseconds (a per-file offset is added)."""

    def __init__(self, path: str | Path, clock: Callable[[], int] | None = None) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._local = threading.local()
        self._system_id: str | None = None
        self.conn().executescript(_SCHEMA)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared across threads)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    # -- meta and clock -----------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A value of the ledger's key/value table."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ledger's key/value table."""
        if key == "system_id":
            self._system_id = None
        self.conn().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def now_ms(self) -> int:
        """The ledger clock (`sui::clock::Clock`), in milliseconds."""
        offset = self.meta("clock_offset_ms")
        return self._clock() + (int(offset) if offset else 0)

    def shift_clock(self, ms: int) -> None:
        """Move the ledger clock forward for every process sharing the file (dev/testing)."""
        self.set_meta("clock_offset_ms", str(int(self.meta("clock_offset_ms") or 0) + ms))

    @property
    def system_id(self) -> str:
        """The shared System object's id (read once: a deployment never changes it; every
        chain call names it, and a query each time was a visible share of a small store)."""
        sid = self._system_id
        if sid is None:
            sid = self.meta("system_id")
            if sid is None:
                raise NotDeployed(f"{self.path} has no System object; run `haulout deploy` first")
            self._system_id = sid
        return sid

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id (owned by the deployer)."""
        cid = self.meta("admin_cap_id")
        if cid is None:
            raise NotDeployed(f"{self.path} is not published; run `haulout deploy` first")
        return cid

    # -- transactions -------------------------------------------------------------------------

    def build(
        self, signer: Account, commands: list[dict[str, Any]], inputs: Sequence[bytes] = ()
    ) -> tuple[bytes, bytes]:
        """Serialise and sign a transaction: returns (tx_bytes, signature). `inputs` are pure
        inputs no command uses (as a Sui PTB may carry): an upload relay's auth package."""
        tx: dict[str, Any] = {
            "sender": signer.address,
            "nonce": os.urandom(16).hex(),
            "commands": commands,
        }
        if inputs:
            tx["inputs"] = [base64.b64encode(i).decode() for i in inputs]
        tx_bytes = json.dumps(tx, sort_keys=True, separators=(",", ":")).encode()
        return tx_bytes, signer.sign_transaction(tx_bytes)

    def execute(self, tx_bytes: bytes, signature: bytes) -> TxResult:
        """Check the signature, then run every command atomically; an abort changes nothing."""
        try:
            signer = verify_transaction(tx_bytes, signature)
        except ValueError as exc:
            raise InvalidTransactionSignature(f"transaction rejected: {exc}") from exc
        try:
            tx = json.loads(tx_bytes)
            sender, commands = tx["sender"], tx["commands"]
            inputs = [base64.b64decode(i, validate=True) for i in tx.get("inputs", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidTransaction(f"malformed transaction: {exc}") from exc
        if signer != sender:
            raise InvalidTransactionSignature(f"signed by {signer} but the sender is {sender}")
        if not isinstance(commands, list):
            raise InvalidTransaction("malformed transaction: commands is not a list")
        digest = blake2b256(tx_bytes).hex()
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM transactions WHERE digest = ?", (digest,)).fetchone():
                raise InvalidTransaction(f"transaction {digest} was already executed (replay)")
            ctx = TxContext(conn, sender, digest, self.now_ms())
            results = run(ctx, commands)
            ctx.flush()
            conn.execute(
                "INSERT INTO transactions (digest, sender, ts) VALUES (?, ?, ?)",
                (digest, sender, ctx.now_ms),
            )
            conn.execute(
                "INSERT INTO tx_effects (digest, inputs, balance_changes) VALUES (?, ?, ?)",
                (
                    digest,
                    json.dumps([base64.b64encode(i).decode() for i in inputs]),
                    json.dumps(ctx.balance_changes),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        created = {o.id: o.type for o in ctx.objects.values() if o.created}
        return TxResult(digest, created, ctx.events, ctx.paid, results)

    def submit(
        self, signer: Account, commands: list[dict[str, Any]], inputs: Sequence[bytes] = ()
    ) -> TxResult:
        """Build, sign and execute a transaction."""
        return self.execute(*self.build(signer, commands, inputs))

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction by digest: sender, time, pure inputs, balance changes and
        events (raises `ObjectNotFound` for a digest never executed here)."""
        conn = self.conn()
        row = conn.execute(
            "SELECT t.sender, t.ts, e.inputs, e.balance_changes FROM transactions t "
            "LEFT JOIN tx_effects e ON e.digest = t.digest WHERE t.digest = ?",
            (digest,),
        ).fetchone()
        if row is None:
            raise ObjectNotFound(f"no executed transaction {digest}")
        sender, ts, inputs, changes = row
        events = conn.execute(
            "SELECT seq, tx_digest, sender, timestamp_ms, type, fields FROM events "
            "WHERE tx_digest = ? ORDER BY seq",
            (digest,),
        ).fetchall()
        return ExecutedTransaction(
            digest,
            sender,
            ts or 0,
            tuple(base64.b64decode(i) for i in json.loads(inputs or "[]")),
            dict(json.loads(changes or "{}")),
            tuple(
                ChainEvent(e[0], e[1], e[2], e[3], parse_event(e[4], json.loads(e[5])))
                for e in events
            ),
        )

    def publish(self, admin: Account) -> str:
        """Publish the package: `init` gives the AdminCap to the publisher. Returns the cap id."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.meta("admin_cap_id"):
                raise InvalidTransaction(f"{self.path} already holds a published package")
            cap_id = "0x" + blake2b256(b"admin-cap" + os.urandom(16)).hex()
            conn.execute(
                "INSERT INTO objects VALUES (?, 'system::AdminCap', ?, 1, '{}')",
                (cap_id, admin.address),
            )
            conn.execute("INSERT INTO meta VALUES ('admin_cap_id', ?)", (cap_id,))
            conn.execute(
                "INSERT INTO meta VALUES ('package_id', ?)",
                ("0x" + blake2b256(cap_id.encode()).hex(),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return cap_id

    # -- balances -----------------------------------------------------------------------------

    def faucet(self, address: str, amount: int = 1000 * MIST_PER_SUI) -> int:
        """Mint SUI for a dev account; returns the new balance."""
        self.conn().execute(
            "INSERT INTO balances VALUES (?, ?) "
            "ON CONFLICT(address) DO UPDATE SET amount = amount + excluded.amount",
            (address, amount),
        )
        return self.balance(address)

    def balance(self, address: str) -> int:
        """SUI balance in MIST."""
        row = (
            self.conn()
            .execute("SELECT amount FROM balances WHERE address = ?", (address,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    # -- reads --------------------------------------------------------------------------------

    def row(self, object_id: str, expect: str | None = None) -> Row:
        """A live object (of type `expect` when given; raises `ObjectNotFound` otherwise)."""
        found = (
            self.conn()
            .execute("SELECT type, owner, version, data FROM objects WHERE id = ?", (object_id,))
            .fetchone()
        )
        if found is None or (expect is not None and found[0] != expect):
            what = expect.split("::")[-1] + " " if expect else ""
            raise ObjectNotFound(f"no live {what}object {object_id}")
        return Row(object_id, found[0], found[1], found[2], json.loads(found[3]))

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        """Events with cursor > `after`, oldest first."""
        rows = (
            self.conn()
            .execute(
                "SELECT seq, tx_digest, sender, timestamp_ms, type, fields FROM events "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after or 0, limit),
            )
            .fetchall()
        )
        return [
            ChainEvent(r[0], r[1], r[2], r[3], parse_event(r[4], json.loads(r[5]))) for r in rows
        ]
