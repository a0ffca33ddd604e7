"""DevChain's state machine: one mirror module per Move module of `move/sources/`, each
function registered against its call declaration in `haulout/chain/calls/`.

Importing this package registers every mirror, of every module file here (a new Move
module's mirror is a new file, found without further edits).
"""

import importlib
import pkgutil

from .registry import FUNCTIONS, call, mirrors, obj, pure, pure_bytes, res, run, transfer_cmd

for _module in pkgutil.iter_modules(__path__):  # registers the mirrors of every module
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

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
