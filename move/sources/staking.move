/// Staking pools and the next committee's shape: one pool per registered node, stake receipts
/// (`StakedSui`), and shard counts by D'Hondt apportionment of stake with each node keeping as
/// many of its current shards as it may. Pure bookkeeping; the calls that move coins live in
/// `system`. DevChain mirrors this in haulout/chain/machine_staking.py.
module haulout::staking;

/// One node's pool: the SUI staked to it (with the rewards it earned, compounded) and the
/// shares its stakers hold of it; `active` is false once the node asked to leave.
public struct Pool has copy, drop, store {
    stake: u64,
    shares: u64,
    active: bool,
}

/// A staker's receipt: `shares` of the pool of `node_id`. Once a withdrawal is requested,
/// `withdraw_amount` is what it pays out at `withdraw_epoch` or later.
public struct StakedSui has key, store {
    id: UID,
    node_id: ID,
    shares: u64,
    principal: u64,
    withdraw_amount: u64,
    withdraw_epoch: u32,
    withdrawing: bool,
}

public(package) fun new_pool(): Pool { Pool { stake: 0, shares: 0, active: true } }

public fun pool_stake(p: &Pool): u64 { p.stake }

public fun pool_shares(p: &Pool): u64 { p.shares }

public fun pool_active(p: &Pool): bool { p.active }

public(package) fun deactivate(p: &mut Pool) { p.active = false }

/// Add `amount` to the pool; returns the shares it buys (1:1 in an empty pool).
public(package) fun deposit(p: &mut Pool, amount: u64): u64 {
    let shares = if (p.shares == 0) {
        amount
    } else {
        (((amount as u128) * (p.shares as u128) / (p.stake as u128)) as u64)
    };
    p.stake = p.stake + amount;
    p.shares = p.shares + shares;
    shares
}

/// Take `shares` out of the pool; returns what they are worth now.
public(package) fun redeem(p: &mut Pool, shares: u64): u64 {
    let amount = (((shares as u128) * (p.stake as u128) / (p.shares as u128)) as u64);
    p.stake = p.stake - amount;
    p.shares = p.shares - shares;
    amount
}

/// Rewards compound into the pool (worth more per share); a pool nobody holds shares of
/// earns nothing (returns false, the caller keeps the reward).
public(package) fun reward(p: &mut Pool, amount: u64): bool {
    if (p.shares == 0) return false;
    p.stake = p.stake + amount;
    true
}

public(package) fun new_staked(node_id: ID, shares: u64, principal: u64, ctx: &mut TxContext): StakedSui {
    StakedSui {
        id: object::new(ctx),
        node_id,
        shares,
        principal,
        withdraw_amount: 0,
        withdraw_epoch: 0,
        withdrawing: false,
    }
}

public(package) fun mark_withdrawing(s: &mut StakedSui, amount: u64, epoch: u32) {
    s.withdraw_amount = amount;
    s.withdraw_epoch = epoch;
    s.withdrawing = true;
}

public(package) fun destroy_staked(s: StakedSui): u64 {
    let StakedSui { id, node_id: _, shares: _, principal: _, withdraw_amount, withdraw_epoch: _, withdrawing: _ } = s;
    id.delete();
    withdraw_amount
}

public fun staked_node(s: &StakedSui): ID { s.node_id }

public fun staked_shares(s: &StakedSui): u64 { s.shares }

public fun staked_principal(s: &StakedSui): u64 { s.principal }

public fun staked_withdrawing(s: &StakedSui): bool { s.withdrawing }

public fun staked_withdraw_epoch(s: &StakedSui): u32 { s.withdraw_epoch }

public fun staked_withdraw_amount(s: &StakedSui): u64 { s.withdraw_amount }

/// D'Hondt: `n` seats, each to the party with the largest stake / (seats + 1); ties to the
/// earlier party; parties with no stake get none.
public fun apportion(stakes: &vector<u64>, n: u64): vector<u64> {
    let mut seats = vector[];
    let mut any = false;
    let mut i = 0;
    while (i < stakes.length()) {
        seats.push_back(0);
        if (stakes[i] > 0) { any = true };
        i = i + 1;
    };
    if (!any) return seats;
    let mut k = 0;
    while (k < n) {
        let mut best = stakes.length();
        let mut j = 0;
        while (j < stakes.length()) {
            if (stakes[j] > 0) {
                if (best == stakes.length()) {
                    best = j
                } else if (
                    (stakes[j] as u128) * ((seats[best] + 1) as u128)
                        > (stakes[best] as u128) * ((seats[j] + 1) as u128)
                ) {
                    best = j
                };
            };
            j = j + 1;
        };
        *&mut seats[best] = seats[best] + 1;
        k = k + 1;
    };
    seats
}

/// The next shard lists: candidate i gets `counts[i]` shards, keeping its lowest current ones
/// (`owner[s]` is the candidate holding shard s now, or `none` = candidates.length()), then
/// taking the lowest free shards in candidate order.
public fun assign(owner: &vector<u64>, counts: &vector<u64>): vector<vector<u16>> {
    let n = owner.length();
    let mut lists: vector<vector<u16>> = vector[];
    let mut taken = vector[];
    let mut s = 0;
    while (s < n) {
        taken.push_back(false);
        s = s + 1;
    };
    let mut c = 0;
    while (c < counts.length()) {
        let mut list = vector[];
        let mut t = 0;
        while (t < n && list.length() < counts[c]) {
            if (owner[t] == c) {
                list.push_back(t as u16);
                *&mut taken[t] = true;
            };
            t = t + 1;
        };
        lists.push_back(list);
        c = c + 1;
    };
    let mut next = 0;
    let mut d = 0;
    while (d < counts.length()) {
        while (lists[d].length() < counts[d]) {
            while (taken[next]) { next = next + 1 };
            *&mut taken[next] = true;
            lists[d].push_back(next as u16);
            next = next + 1;
        };
        d = d + 1;
    };
    lists
}

/// Shard lists are built ascending in two runs (kept, then taken); sort one in place.
public fun sort(list: &mut vector<u16>) {
    let n = list.length();
    let mut i = 1;
    while (i < n) {
        let mut j = i;
        while (j > 0 && list[j - 1] > list[j]) {
            list.swap(j - 1, j);
            j = j - 1;
        };
        i = i + 1;
    };
}
