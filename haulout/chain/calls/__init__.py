"""Each Move call of the `haulout` package, described once (one module per Move module).

A new call is one `move_function(...)` line in the module of its Move module (a new module is
a new file here, found without further edits); DevChain's mirror of it registers with
`@mirrors(calls.<module>.<NAME>)` (`haulout/chain/machine/`); SuiChain encodes it with no
further code; `tests/unit/test_calls.py` checks it against `move/sources/` and its mirror.
"""

import importlib
import pkgutil

from . import blob, bucket, shared_blob, storage_resource, system
from .core import (
    REGISTRY,
    Arg,
    Clock,
    ClockParam,
    Coin,
    CoinParam,
    Command,
    GasCoin,
    MoveCall,
    MoveFunction,
    Object,
    ObjectParam,
    Param,
    Pay,
    PaymentParam,
    Pure,
    PureParam,
    Result,
    Transaction,
    TransferObjects,
    move_function,
    single,
)

for _module in pkgutil.iter_modules(__path__):  # every Move module's declarations, new ones too
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "REGISTRY",
    "Arg",
    "Clock",
    "ClockParam",
    "Coin",
    "CoinParam",
    "Command",
    "GasCoin",
    "MoveCall",
    "MoveFunction",
    "Object",
    "ObjectParam",
    "Param",
    "Pay",
    "PaymentParam",
    "Pure",
    "PureParam",
    "Result",
    "Transaction",
    "TransferObjects",
    "blob",
    "bucket",
    "move_function",
    "shared_blob",
    "single",
    "storage_resource",
    "system",
]
