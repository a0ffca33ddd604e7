"""The storage committee: members in a fixed order, each owning some shards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from .bls import PublicKeyPoint, parse_public_key
from .errors import InvalidCommittee
from .params import ENCODING_RS16, check_shards, shard_for_sliver


@dataclass(frozen=True)
class Member:
    """One storage node in the committee."""

    node_id: str
    name: str
    url: str
    public_key: bytes
    shards: tuple[int, ...]

    @property
    def weight(self) -> int:
        """A member's voting weight is the number of shards it holds."""
        return len(self.shards)


@dataclass(frozen=True)
class Committee:
    """Members of one epoch; every shard in `0..n_shards` is owned by exactly one member."""

    epoch: int
    n_shards: int
    members: tuple[Member, ...]
    _owner: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_shards(self.n_shards, ENCODING_RS16)  # a committee may outgrow type 0
        if not self.members:
            raise InvalidCommittee("a committee needs at least one member")
        owner: dict[int, int] = {}
        for pos, m in enumerate(self.members):
            for s in m.shards:
                if not 0 <= s < self.n_shards:
                    raise InvalidCommittee(
                        f"member {m.name} holds shard {s} outside 0..{self.n_shards - 1}"
                    )
                if s in owner:
                    raise InvalidCommittee(f"shard {s} is assigned twice")
                owner[s] = pos
        if len(owner) != self.n_shards:
            missing = sorted(set(range(self.n_shards)) - set(owner))
            raise InvalidCommittee(f"shards {missing[:8]} have no owner; assign every shard once")
        self._owner.update(owner)

    def owner_of_shard(self, shard: int) -> int:
        """Position of the member that owns `shard`."""
        return self._owner[shard]

    def slivers_of(self, member_index: int, blob_id_int: int) -> list[int]:
        """Sliver indices that member `member_index` stores for this blob."""
        n = self.n_shards
        return sorted((s - blob_id_int % n) % n for s in self.members[member_index].shards)

    def member_for_sliver(self, sliver: int, blob_id_int: int) -> int:
        """Position of the member storing sliver `sliver` of this blob."""
        return self.owner_of_shard(shard_for_sliver(sliver, blob_id_int, self.n_shards))

    @cached_property
    def parsed_keys(self) -> tuple[PublicKeyPoint, ...]:
        """Members' public keys, parsed once per committee."""
        return tuple(parse_public_key(m.public_key) for m in self.members)

    def weight(self, positions: Sequence[int]) -> int:
        """Total shards held by the members at `positions`."""
        return sum(self.members[p].weight for p in positions)

    def index_of(self, node_id: str) -> int:
        """Position of the member with `node_id`."""
        for pos, m in enumerate(self.members):
            if m.node_id == node_id:
                return pos
        raise InvalidCommittee(f"node {node_id} is not in the committee of epoch {self.epoch}")


def even_shards(n_shards: int, n_members: int) -> list[tuple[int, ...]]:
    """Spread shards as evenly as possible, in contiguous ranges, over `n_members`."""
    check_shards(n_shards, ENCODING_RS16)
    if not 1 <= n_members <= n_shards:
        raise InvalidCommittee(f"need between 1 and {n_shards} members; got {n_members}")
    base, extra = divmod(n_shards, n_members)
    out, start = [], 0
    for i in range(n_members):
        size = base + (1 if i < extra else 0)
        out.append(tuple(range(start, start + size)))
        start += size
    return out
