"""`haulout::shared_blob`: a certified Blob anyone funds and extends."""

from __future__ import annotations

from .blob import BLOB
from .core import COIN, move_function, mut, pure, value
from .system import SYSTEM

SHARED_BLOB = "shared_blob::SharedBlob"

NEW = move_function("shared_blob", "new", value(BLOB))
NEW_FUNDED = move_function("shared_blob", "new_funded", value(BLOB), COIN)
FUND = move_function("shared_blob", "fund", mut(SHARED_BLOB), COIN)
EXTEND = move_function("shared_blob", "extend", mut(SHARED_BLOB), mut(SYSTEM), pure("u32"))
