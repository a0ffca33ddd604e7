"""`haulout::storage_resource`: splitting and fusing Storage."""

from __future__ import annotations

from .core import move_function, mut, pure, value

STORAGE = "storage_resource::Storage"

SPLIT_BY_EPOCH = move_function(
    "storage_resource", "split_by_epoch", mut(STORAGE), pure("u32"), returns=STORAGE
)
SPLIT_BY_SIZE = move_function(
    "storage_resource", "split_by_size", mut(STORAGE), pure("u64"), returns=STORAGE
)
FUSE = move_function("storage_resource", "fuse", mut(STORAGE), value(STORAGE))
