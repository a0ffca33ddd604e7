"""DevChain's state machine: one mirror module per Move module of `move/sources/`, each
function registered against its call declaration in `haulout/chain/calls/`.

Importing this package registers every mirror; a new Move module adds its mirror module to
the import line below.
"""

from . import blob, shared_blob, storage_resource, system  # noqa: F401  (registers mirrors)
from .registry import FUNCTIONS, call, mirrors, obj, pure, pure_bytes, res, run, transfer_cmd

__all__ = [
    "FUNCTIONS",
    "call",
    "mirrors",
    "obj",
    "pure",
    "pure_bytes",
    "res",
    "run",
    "transfer_cmd",
]
