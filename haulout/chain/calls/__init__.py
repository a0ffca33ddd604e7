"""Each Move call of the `haulout` package, described once (one module per Move module).

A new call is one `move_function(...)` line in the module of its Move module; DevChain's mirror
of it registers with `@mirrors(calls.<module>.<NAME>)` (`haulout/chain/machine/`); SuiChain
encodes it with no further code.
"""

from . import blob, shared_blob, storage_resource, system
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
    PaymentParam,
    Pure,
    PureParam,
    Result,
    Transaction,
    TransferObjects,
    move_function,
    single,
)

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
    "PaymentParam",
    "Pure",
    "PureParam",
    "Result",
    "Transaction",
    "TransferObjects",
    "blob",
    "move_function",
    "shared_blob",
    "single",
    "storage_resource",
    "system",
]
