"""Typed errors of the chain port: Move aborts and transaction-level rejections."""

from __future__ import annotations

from haulout.protocol.move_errors import code_of, describe


class ChainError(Exception):
    """Base of every error a chain adapter raises; `reason` is a stable machine code."""

    reason = "CHAIN_ERROR"


class MoveAbort(ChainError):
    """A Move call aborted: `module` and `code` as on chain, `name` from the abort table."""

    reason = "MOVE_ABORT"

    def __init__(self, module: str, code: int, detail: str = "") -> None:
        info = describe(module, code)
        self.module, self.code, self.name, self.hint = module, code, info.name, info.hint
        text = f"{module}::{info.name} (abort code {code}): {info.hint}"
        super().__init__(f"{text}. {detail}".strip() if detail else text)

    @classmethod
    def named(cls, module: str, name: str, detail: str = "") -> MoveAbort:
        """Raise-ready abort by constant name."""
        return cls(module, code_of(module, name), detail)


class ObjectNotFound(ChainError):
    """The object id names no live object."""

    reason = "OBJECT_NOT_FOUND"


class ObjectNotOwned(ChainError):
    """An owned object was used by an account that does not own it."""

    reason = "OBJECT_NOT_OWNED"


class InvalidTransactionSignature(ChainError):
    """The transaction's signature or sender does not check out."""

    reason = "INVALID_TRANSACTION_SIGNATURE"


class InvalidTransaction(ChainError):
    """The transaction is malformed (unknown call, wrong arguments, replayed nonce)."""

    reason = "INVALID_TRANSACTION"


class NotDeployed(ChainError):
    """No deployment is configured or the ledger has no System object."""

    reason = "NOT_DEPLOYED"


class NotSupported(ChainError):
    """This chain adapter does not offer the operation yet (say which one, and where it is)."""

    reason = "NOT_SUPPORTED"
