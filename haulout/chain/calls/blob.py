"""`haulout::blob`: registering, certifying, extending, deleting, burning Blobs; attributes."""

from __future__ import annotations

from .core import PAYMENT, move_function, mut, pure, ref, value
from .system import SYSTEM

BLOB = "blob::Blob"

REGISTER_BLOB = move_function(
    "blob",
    "register_blob",
    mut(SYSTEM),
    value("storage_resource::Storage"),
    pure("u256"),  # blob_id
    pure("u256"),  # root_hash
    pure("u64"),  # size
    pure("u8"),  # encoding_type
    pure("bool"),  # deletable
    PAYMENT,
    returns=BLOB,
)
CERTIFY_BLOB = move_function(
    "blob",
    "certify_blob",
    ref(SYSTEM),
    mut(BLOB),
    pure("vector<u8>"),  # signature
    pure("vector<u8>"),  # signers bitmap
    pure("vector<u8>"),  # message
)
EXTEND_BLOB = move_function("blob", "extend_blob", mut(SYSTEM), mut(BLOB), pure("u32"), PAYMENT)
DELETE_BLOB = move_function(
    "blob", "delete_blob", ref(SYSTEM), value(BLOB), returns="storage_resource::Storage"
)
BURN = move_function("blob", "burn", value(BLOB))
SET_ATTRIBUTE = move_function("blob", "set_attribute", mut(BLOB), pure("String"), pure("String"))
REMOVE_ATTRIBUTE = move_function("blob", "remove_attribute", mut(BLOB), pure("String"))
