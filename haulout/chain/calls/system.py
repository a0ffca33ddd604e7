"""`haulout::system`: the System object, nodes, committee, prices, epochs, storage purchase."""

from __future__ import annotations

from .core import CLOCK, PAYMENT, move_function, mut, pure, ref

SYSTEM = "system::System"
ADMIN_CAP = "system::AdminCap"

CREATE_SYSTEM = move_function(
    "system",
    "create_system",
    ref(ADMIN_CAP),
    pure("u16"),  # n_shards
    pure("u64"),  # epoch_duration_ms
    pure("u64"),  # storage_price
    pure("u64"),  # write_price
    pure("u64"),  # total_capacity
    pure("u32"),  # max_epochs_ahead
    CLOCK,
)
REGISTER_NODE = move_function(
    "system",
    "register_node",
    mut(SYSTEM),
    ref(ADMIN_CAP),
    pure("String"),  # name
    pure("String"),  # url
    pure("vector<u8>"),  # BLS public key
    pure("vector<u8>"),  # proof of possession
    pure("address"),  # node_address
    returns="ID",
)
SET_COMMITTEE = move_function(
    "system",
    "set_committee",
    mut(SYSTEM),
    ref(ADMIN_CAP),
    pure("vector<ID>"),
    pure("vector<vector<u16>>"),
)
SET_PRICES = move_function(
    "system", "set_prices", mut(SYSTEM), ref(ADMIN_CAP), pure("u64"), pure("u64")
)
SET_CAPACITY = move_function("system", "set_capacity", mut(SYSTEM), ref(ADMIN_CAP), pure("u64"))
ADVANCE_EPOCH = move_function("system", "advance_epoch", mut(SYSTEM), CLOCK, returns="u32")
FORCE_ADVANCE_EPOCH = move_function(
    "system", "force_advance_epoch", mut(SYSTEM), ref(ADMIN_CAP), CLOCK, returns="u32"
)
RESERVE_SPACE = move_function(
    "system",
    "reserve_space",
    mut(SYSTEM),
    pure("u64"),  # storage_size
    pure("u32"),  # epochs_ahead
    PAYMENT,
    returns="storage_resource::Storage",
)
INVALIDATE_BLOB_ID = move_function(
    "system",
    "invalidate_blob_id",
    mut(SYSTEM),
    pure("vector<u8>"),  # signature
    pure("vector<u8>"),  # signers bitmap
    pure("vector<u8>"),  # message
    returns="u256",
)
