"""A Sui full-node stand-in: the `sui.rpc.v2` gRPC services SuiChain uses, and a localnet-style
faucet, backed by DevChain's ledger and state machine, so SuiChain's whole path (BCS
transactions, intent signatures, gas coins, effects, object JSON views, checkpoints, events)
runs in every test run. A fake at the chain port's boundary: the contract suite runs against
DevChain, SuiChain through this stand-in, and a real node when HAULOUT_SUI_RPC is set.

Modules: `move_types` (the package's layouts and signatures from move/sources), `values`
(BCS and JSON views of Move values), `render` (DevChain rows as Move structs), `ledger` (the
Sui-side object and checkpoint records), `executor` (checks a transaction, charges gas, answers effects), `ptb` (runs its
commands on DevChain's state machine),
`views` (answers and read masks), `server` (the gRPC methods), `genesis` (genesis and the
faucet), `runner` (start it in a thread or as `python -m haulout.chain.standin`).
"""

from .runner import StandIn

__all__ = ["StandIn"]
