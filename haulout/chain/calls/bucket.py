"""`haulout::bucket`: named, versioned trees; one small object per bucket."""

from __future__ import annotations

from .blob import BLOB
from .core import PAYMENT, move_function, mut, pure, ref, value
from .system import SYSTEM

BUCKET = "bucket::Bucket"

CREATE = move_function("bucket", "create", pure("String"), returns=BUCKET)
COMMIT = move_function("bucket", "commit", mut(BUCKET), ref(SYSTEM), ref(BLOB), pure("u64"))
TAG = move_function("bucket", "tag", mut(BUCKET), pure("String"), pure("u64"))
EXTEND = move_function(
    "bucket", "extend", ref(BUCKET), mut(SYSTEM), mut(BLOB), pure("u32"), PAYMENT
)
DESTROY = move_function("bucket", "destroy", value(BUCKET))
