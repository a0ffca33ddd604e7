"""The Move package's abort codes, one table, so an abort on chain becomes a typed error.

`tests/unit/test_move_errors.py` checks this table against the `const E…` lines of
`move/sources/*.move`: a code added or renumbered on one side fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AbortInfo:
    """Name and advice for one abort code of one module."""

    name: str
    hint: str


MOVE_ERRORS: dict[str, dict[int, AbortInfo]] = {
    "system": {
        1: AbortInfo("EInvalidEpochsAhead", "ask for 1 to max_epochs_ahead epochs"),
        2: AbortInfo(
            "EStorageExceeded", "the network is full for those epochs; store less or fewer epochs"
        ),
        3: AbortInfo(
            "EInsufficientPayment", "the coin is too small; get more SUI (haulout faucet) and retry"
        ),
        4: AbortInfo("EEpochNotOver", "the current epoch has not run its duration yet; wait"),
        5: AbortInfo("EInvalidCommittee", "assign every shard exactly once to registered nodes"),
        6: AbortInfo(
            "EInvalidProofOfPossession",
            "sign the proof of possession with the key being registered",
        ),
        7: AbortInfo("ENodeAlreadyRegistered", "this BLS key is registered already"),
        8: AbortInfo("EUnknownNode", "register the node before adding it to the committee"),
        9: AbortInfo("EInvalidSize", "reserve a positive number of bytes"),
        10: AbortInfo(
            "EInvalidShardCount",
            "n_shards must be between 1 and 4096 (encoding type 0 needs at most 256)",
        ),
        11: AbortInfo(
            "EChangeInProgress",
            "the epoch change is still moving shards; wait for EpochChangeDone, then advance",
        ),
        12: AbortInfo(
            "ENoChangeInProgress", "no shards moved in this epoch; there is nothing to report"
        ),
        13: AbortInfo(
            "ENotCommitteeMember", "only members of the current committee report shards received"
        ),
        14: AbortInfo("EAlreadyReported", "this node reported its shards in this change already"),
        15: AbortInfo("EShardNotOwned", "report only shards the node owns in the new committee"),
        16: AbortInfo("ENotNodeAccount", "sign with the node's own account (its node_address)"),
        17: AbortInfo(
            "EWrongChangeEpoch", "report for the current epoch; read the System and retry"
        ),
        18: AbortInfo("EZeroStake", "stake a positive amount of MIST"),
        19: AbortInfo("ENodeLeaving", "the node is leaving the committee; stake to another node"),
        20: AbortInfo("EAlreadyWithdrawing", "the withdrawal of this stake is requested already"),
        21: AbortInfo(
            "ENotWithdrawable",
            "request the withdrawal first (haulout unstake); it pays out from the next epoch",
        ),
    },
    "blob": {
        1: AbortInfo(
            "EInvalidBlobId",
            "the blob id does not derive from encoding type, size and root; re-encode",
        ),
        2: AbortInfo(
            "EResourceBounds", "the storage does not cover the current epoch; reserve new storage"
        ),
        3: AbortInfo(
            "EResourceSize", "the storage is smaller than the encoded length; reserve more"
        ),
        4: AbortInfo("EAlreadyCertified", "the blob is certified already; nothing to do"),
        5: AbortInfo("EBlobIdMismatch", "the certificate is for another blob"),
        6: AbortInfo(
            "EPersistenceMismatch",
            "the certificate's permanent/deletable flag differs from the blob's",
        ),
        7: AbortInfo("EObjectIdMismatch", "the certificate names another blob object"),
        8: AbortInfo("ENotDeletable", "only blobs registered as deletable can be deleted"),
        9: AbortInfo("EBlobExpired", "the blob's storage has ended"),
        10: AbortInfo("ENotCertified", "certify the blob before extending it"),
        11: AbortInfo(
            "EUnsupportedEncoding",
            "use encoding type 1 (type 0 only on systems of at most 256 shards; no other types)",
        ),
        12: AbortInfo("EAttributeNotFound", "the blob has no attribute with that key"),
        13: AbortInfo(
            "EBlobIdInvalidated", "this blob id was voted invalid; it cannot be registered"
        ),
        14: AbortInfo("EInvalidExtension", "extend by 1 or more epochs, within max_epochs_ahead"),
        15: AbortInfo("EAttributeKeyTooLong", "use an attribute key of at most 128 bytes"),
        16: AbortInfo("EAttributeValueTooLong", "use an attribute value of at most 1024 bytes"),
    },
    "bucket": {
        1: AbortInfo(
            "EInvalidName",
            "use 3 to 40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
        ),
        2: AbortInfo(
            "EStaleVersion",
            "someone committed first; read the current version, merge, and commit on top of it",
        ),
        3: AbortInfo("EManifestNotLive", "commit a certified, unexpired manifest blob"),
        4: AbortInfo("EInvalidTag", "use 1 to 64 characters of A-Z a-z 0-9 . _ - (not all digits)"),
        5: AbortInfo("EUnknownVersion", "tag a version between 1 and the bucket's current one"),
        6: AbortInfo("ETooManyTags", "a bucket holds at most 64 tags; move an existing one"),
        7: AbortInfo(
            "EManifestMismatch", "extend the bucket with its current manifest's Blob object"
        ),
    },
    "shared_blob": {
        1: AbortInfo("ENotCertified", "certify the blob before sharing it"),
        2: AbortInfo("EZeroFunding", "fund a shared blob with more than 0 MIST"),
    },
    "storage_resource": {
        1: AbortInfo("EInvalidSplitEpoch", "split strictly between the start and end epochs"),
        2: AbortInfo(
            "EInvalidSplitSize", "split off a size strictly between 0 and the storage size"
        ),
        3: AbortInfo("EIncompatibleEpochs", "fuse storage with equal or adjacent epoch ranges"),
        4: AbortInfo("EIncompatibleSize", "fuse adjacent ranges only when their sizes are equal"),
    },
    "committee": {
        1: AbortInfo("ENotEnoughWeight", "collect confirmations from more shards"),
        2: AbortInfo("EInvalidBitmap", "the signer bitmap does not fit the committee"),
        3: AbortInfo(
            "EInvalidSignature",
            "the aggregate signature does not verify; collect fresh confirmations",
        ),
        4: AbortInfo(
            "EWrongEpoch", "the message is for another epoch; collect fresh confirmations"
        ),
    },
    "messages": {
        1: AbortInfo("EIncorrectAppId", "the message is not a Haulout message"),
        2: AbortInfo("EIncorrectIntentVersion", "use intent version 0"),
        3: AbortInfo("EIncorrectIntentType", "the message has the wrong intent for this call"),
        4: AbortInfo("EInvalidMessageLength", "the message body has the wrong length"),
        5: AbortInfo("EInvalidPersistence", "the persistence byte must be 0 or 1"),
    },
}


def code_of(module: str, name: str) -> int:
    """The numeric code of a named abort constant (e.g. `code_of("blob", "ENotDeletable")`)."""
    for code, info in MOVE_ERRORS[module].items():
        if info.name == name:
            return code
    raise KeyError(f"{module}::{name} is not in the abort table")


def describe(module: str, code: int) -> AbortInfo:
    """Name and hint for an abort, or a generic entry for codes outside the table."""
    return MOVE_ERRORS.get(module, {}).get(code, AbortInfo(f"E{code}", "see the Move sources"))
