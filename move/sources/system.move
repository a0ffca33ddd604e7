/// The shared System object: epoch, committee, capacity, prices, parameters; and the admin
/// calls. Same checks, order and abort codes as DevChain (haulout/chain/devchain.py).
module haulout::system;

use haulout::committee::{Self, Committee};
use haulout::encoding;
use haulout::events;
use haulout::messages;
use haulout::staking::{Self, Pool, StakedSui};
use haulout::storage_resource::{Self, Storage};
use std::string::String;
use sui::balance::{Self, Balance};
use sui::bls12381;
use sui::clock::Clock;
use sui::coin::Coin;
use sui::sui::SUI;
use sui::table::{Self, Table};
use sui::vec_map::{Self, VecMap};

const VERSION: u64 = 1;

const EInvalidEpochsAhead: u64 = 1;
const EStorageExceeded: u64 = 2;
const EInsufficientPayment: u64 = 3;
const EEpochNotOver: u64 = 4;
const EInvalidCommittee: u64 = 5;
const EInvalidProofOfPossession: u64 = 6;
const ENodeAlreadyRegistered: u64 = 7;
const EUnknownNode: u64 = 8;
const EInvalidSize: u64 = 9;
const EInvalidShardCount: u64 = 10;
const EChangeInProgress: u64 = 11;
const ENoChangeInProgress: u64 = 12;
const ENotCommitteeMember: u64 = 13;
const EAlreadyReported: u64 = 14;
const EShardNotOwned: u64 = 15;
const ENotNodeAccount: u64 = 16;
const EWrongChangeEpoch: u64 = 17;
const EZeroStake: u64 = 18;
const ENodeLeaving: u64 = 19;
const EAlreadyWithdrawing: u64 = 20;
const ENotWithdrawable: u64 = 21;

/// Held by the deployer; manages nodes, committee, prices and capacity.
public struct AdminCap has key, store { id: UID }

public struct NodeInfo has copy, drop, store {
    name: String,
    url: String,
    public_key: vector<u8>,
    node_address: address,
}

public struct System has key {
    id: UID,
    version: u64,
    epoch: u32,
    epoch_start_ms: u64,
    epoch_duration_ms: u64,
    n_shards: u16,
    nodes: VecMap<ID, NodeInfo>,
    committee: Committee,
    total_capacity: u64,
    /// Bytes reserved per epoch, a ring of `max_epochs_ahead` slots indexed by epoch.
    usage: vector<u64>,
    storage_price: u64,
    write_price: u64,
    max_epochs_ahead: u32,
    balance: Balance<SUI>,
    invalid_ids: Table<u256, bool>,
    /// The committee before the last change: a shard's previous owner serves it until its
    /// new owner reports it holds it.
    previous_committee: Committee,
    /// An epoch change is in progress: the committee moved shards and not yet owners of a
    /// quorum of shards reported them received.
    changing: bool,
    /// The epoch whose start moved shards last: members report shards received during it.
    change_epoch: u32,
    /// Members of the current committee that reported their shards received in this change.
    received: vector<ID>,
    received_weight: u64,
    /// One staking pool per registered node.
    pools: VecMap<ID, Pool>,
    /// The SUI staked to every pool, with the rewards paid into them.
    stakes: Balance<SUI>,
    /// Fees paid in the current epoch, shared among its members by shards held when it ends.
    epoch_fees: u64,
}

fun init(ctx: &mut TxContext) {
    transfer::public_transfer(AdminCap { id: object::new(ctx) }, ctx.sender());
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(ctx) }

public fun create_system(
    _: &AdminCap,
    n_shards: u16,
    epoch_duration_ms: u64,
    storage_price: u64,
    write_price: u64,
    total_capacity: u64,
    max_epochs_ahead: u32,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    assert!(n_shards >= 1 && n_shards <= encoding::max_system_shards(), EInvalidShardCount);
    assert!(max_epochs_ahead >= 1 && max_epochs_ahead <= 1000, EInvalidEpochsAhead);
    let mut usage = vector[];
    let mut i = 0;
    while (i < max_epochs_ahead) {
        usage.push_back(0);
        i = i + 1;
    };
    let system = System {
        id: object::new(ctx),
        version: VERSION,
        epoch: 0,
        epoch_start_ms: clock.timestamp_ms(),
        epoch_duration_ms,
        n_shards,
        nodes: vec_map::empty(),
        committee: committee::empty(n_shards),
        total_capacity,
        usage,
        storage_price,
        write_price,
        max_epochs_ahead,
        balance: balance::zero(),
        invalid_ids: table::new(ctx),
        previous_committee: committee::empty(n_shards),
        changing: false,
        change_epoch: 0,
        received: vector[],
        received_weight: 0,
        pools: vec_map::empty(),
        stakes: balance::zero(),
        epoch_fees: 0,
    };
    events::prices_updated(0, storage_price, write_price);
    transfer::share_object(system);
}

public fun register_node(
    system: &mut System,
    _: &AdminCap,
    name: String,
    url: String,
    public_key: vector<u8>,
    pop: vector<u8>,
    node_address: address,
    ctx: &mut TxContext,
): ID {
    add_node(system, name, url, public_key, pop, node_address, ctx)
}

/// Anyone may register a node (with a proof of possession of its BLS key, bound to the
/// sender's address, which becomes the node's account); it gets shards at the next epoch
/// change once stake backs it.
public fun register_candidate(
    system: &mut System,
    name: String,
    url: String,
    public_key: vector<u8>,
    pop: vector<u8>,
    ctx: &mut TxContext,
): ID {
    let sender = ctx.sender();
    add_node(system, name, url, public_key, pop, sender, ctx)
}

fun add_node(
    system: &mut System,
    name: String,
    url: String,
    public_key: vector<u8>,
    pop: vector<u8>,
    node_address: address,
    ctx: &mut TxContext,
): ID {
    let mut i = 0;
    let keys = system.nodes.keys();
    while (i < keys.length()) {
        assert!(system.nodes.get(&keys[i]).public_key != public_key, ENodeAlreadyRegistered);
        i = i + 1;
    };
    assert!(public_key.length() == 48, EInvalidProofOfPossession);
    let message = messages::proof_of_possession(system.epoch, public_key, node_address);
    assert!(bls12381::bls12381_min_pk_verify(&pop, &public_key, &message), EInvalidProofOfPossession);
    let uid = object::new(ctx);
    let node_id = uid.to_inner();
    uid.delete();
    system.nodes.insert(node_id, NodeInfo { name, url, public_key, node_address });
    system.pools.insert(node_id, staking::new_pool());
    events::node_registered(node_id, name, url, public_key);
    node_id
}

public fun set_committee(system: &mut System, _: &AdminCap, node_ids: vector<ID>, shards: vector<vector<u16>>) {
    assert!(node_ids.length() == shards.length() && node_ids.length() > 0, EInvalidCommittee);
    let mut i = 0;
    while (i < node_ids.length()) {
        assert!(system.nodes.contains(&node_ids[i]), EUnknownNode);
        i = i + 1;
    };
    let n = system.n_shards as u64;
    let mut seen = vector[];
    let mut s = 0;
    while (s < n) {
        seen.push_back(false);
        s = s + 1;
    };
    let mut members = vector[];
    let mut m = 0;
    while (m < shards.length()) {
        let list = &shards[m];
        let mut j = 0;
        while (j < list.length()) {
            let shard = list[j] as u64;
            assert!(shard < n && !seen[shard], EInvalidCommittee);
            *&mut seen[shard] = true;
            j = j + 1;
        };
        m = m + 1;
    };
    let mut all = true;
    let mut k = 0;
    while (k < n) {
        if (!seen[k]) { all = false };
        k = k + 1;
    };
    let mut distinct = true;
    let mut a = 0;
    while (a < node_ids.length()) {
        let mut b = a + 1;
        while (b < node_ids.length()) {
            if (node_ids[a] == node_ids[b]) { distinct = false };
            b = b + 1;
        };
        a = a + 1;
    };
    assert!(all && distinct, EInvalidCommittee);
    let mut p = 0;
    while (p < node_ids.length()) {
        let info = system.nodes.get(&node_ids[p]);
        members.push_back(committee::new_member(node_ids[p], info.public_key, shards[p]));
        p = p + 1;
    };
    if (system.committee.size() > 0) { system.previous_committee = system.committee };
    system.committee = committee::new(members, system.n_shards);
    system.changing = false;
    system.received = vector[];
    system.received_weight = 0;
    events::committee_changed(system.epoch, node_ids, system.n_shards);
}

public fun set_prices(system: &mut System, _: &AdminCap, storage_price: u64, write_price: u64) {
    system.storage_price = storage_price;
    system.write_price = write_price;
    events::prices_updated(system.epoch, storage_price, write_price);
}

public fun set_capacity(system: &mut System, _: &AdminCap, total_capacity: u64) {
    system.total_capacity = total_capacity;
}

fun next_epoch(system: &mut System, now_ms: u64): u32 {
    assert!(!system.changing, EChangeInProgress);
    distribute_rewards(system);
    let len = system.max_epochs_ahead as u64;
    let slot = (system.epoch as u64) % len;
    *&mut system.usage[slot] = 0; // that slot now stands for epoch + max_epochs_ahead
    system.epoch = system.epoch + 1;
    system.epoch_start_ms = now_ms;
    events::epoch_advanced(system.epoch, now_ms);
    start_epoch_change(system);
    system.epoch
}

/// The fees paid in the ending epoch go to its members' pools by shards held (a pool nobody
/// staked to earns nothing; what is not paid out stays with the System).
fun distribute_rewards(system: &mut System) {
    let fees = system.epoch_fees;
    system.epoch_fees = 0;
    let n = system.n_shards as u64;
    let mut i = 0;
    while (i < system.committee.size()) {
        let node_id = system.committee.member_node(i);
        let shards = system.committee.weight_of(i);
        let amount = (((fees as u128) * (shards as u128) / (n as u128)) as u64);
        let pool = system.pools.get_mut(&node_id);
        let paid = if (amount > 0 && staking::reward(pool, amount)) { amount } else { 0 };
        if (paid > 0) { system.stakes.join(system.balance.split(paid)); };
        events::rewards_distributed(system.epoch, node_id, shards, paid, staking::pool_stake(pool));
        i = i + 1;
    };
}

/// Fix the committee of the new epoch from stake: members are the active nodes with stake,
/// in registration order, with shard counts by D'Hondt; each keeps as many of its shards
/// as it may. No stake anywhere keeps the committee. When shards move, the change runs
/// until owners of a quorum of shards report them received.
fun start_epoch_change(system: &mut System) {
    let ids = system.nodes.keys();
    let mut stakes = vector[];
    let mut i = 0;
    while (i < ids.length()) {
        let pool = system.pools.get(&ids[i]);
        stakes.push_back(if (staking::pool_active(pool)) { staking::pool_stake(pool) } else { 0 });
        i = i + 1;
    };
    let n = system.n_shards as u64;
    let counts = staking::apportion(&stakes, n);
    let mut total = 0;
    let mut c = 0;
    while (c < counts.length()) {
        total = total + counts[c];
        c = c + 1;
    };
    if (total == 0) {
        events::epoch_change_start(system.epoch, system.committee.node_ids(), 0);
        events::epoch_change_done(system.epoch);
        return
    };
    let mut owner = vector[];
    let mut s = 0;
    while (s < n) {
        owner.push_back(ids.length());
        s = s + 1;
    };
    let mut m = 0;
    while (m < system.committee.size()) {
        let node_id = system.committee.member_node(m);
        let shards = system.committee.member_shards(m);
        let mut p = 0;
        while (p < ids.length() && ids[p] != node_id) { p = p + 1 };
        let mut k = 0;
        while (k < shards.length()) {
            *&mut owner[shards[k] as u64] = p;
            k = k + 1;
        };
        m = m + 1;
    };
    let lists = staking::assign(&owner, &counts);
    let mut members = vector[];
    let mut member_ids = vector[];
    let mut moved = 0;
    let mut q = 0;
    while (q < ids.length()) {
        if (counts[q] > 0) {
            let mut list = lists[q];
            staking::sort(&mut list);
            let mut k = 0;
            while (k < list.length()) {
                if (owner[list[k] as u64] != q) { moved = moved + 1 };
                k = k + 1;
            };
            let info = system.nodes.get(&ids[q]);
            members.push_back(committee::new_member(ids[q], info.public_key, list));
            member_ids.push_back(ids[q]);
        };
        q = q + 1;
    };
    let next = committee::new(members, system.n_shards);
    if (moved == 0 && next.node_ids() == system.committee.node_ids()) {
        events::epoch_change_start(system.epoch, member_ids, 0);
        events::epoch_change_done(system.epoch);
        return
    };
    if (system.committee.size() > 0) { system.previous_committee = system.committee };
    system.committee = next;
    system.received = vector[];
    system.received_weight = 0;
    events::committee_changed(system.epoch, member_ids, system.n_shards);
    events::epoch_change_start(system.epoch, member_ids, moved);
    system.changing = moved > 0;
    system.change_epoch = system.epoch;
    if (moved == 0) { events::epoch_change_done(system.epoch) };
}

/// A member of the new committee reports, from its own account, that it holds every shard
/// it gained in this epoch's change (`shards`, each its own). Once members holding a quorum
/// of shards (2f+1 by weight) reported, the change is done; later reports are recorded too.
public fun shards_received(system: &mut System, node_id: ID, epoch: u32, shards: vector<u16>, ctx: &TxContext) {
    assert!(epoch == system.epoch, EWrongChangeEpoch);
    assert!(system.change_epoch == epoch && epoch > 0, ENoChangeInProgress);
    assert!(system.nodes.contains(&node_id), EUnknownNode);
    assert!(system.nodes.get(&node_id).node_address == ctx.sender(), ENotNodeAccount);
    let position = system.committee.position_of(node_id);
    assert!(position < system.committee.size(), ENotCommitteeMember);
    assert!(!system.received.contains(&node_id), EAlreadyReported);
    let own = system.committee.member_shards(position);
    let mut i = 0;
    while (i < shards.length()) {
        assert!(own.contains(&shards[i]), EShardNotOwned);
        i = i + 1;
    };
    system.received.push_back(node_id);
    system.received_weight = system.received_weight + own.length();
    events::shards_received(epoch, node_id, shards);
    let n = system.n_shards as u64;
    if (system.changing && 3 * system.received_weight >= 2 * n + 1) {
        system.changing = false;
        events::epoch_change_done(epoch);
    };
}

/// A node's own account withdraws it: it gets no shards from the next epoch change on (it
/// keeps serving those it holds until their new owners have them).
public fun leave_committee(system: &mut System, node_id: ID, ctx: &TxContext) {
    assert!(system.nodes.contains(&node_id), EUnknownNode);
    assert!(system.nodes.get(&node_id).node_address == ctx.sender(), ENotNodeAccount);
    let pool = system.pools.get_mut(&node_id);
    assert!(staking::pool_active(pool), ENodeLeaving);
    staking::deactivate(pool);
    events::node_leaving(system.epoch, node_id);
}

/// Anyone stakes `coin` to the pool of `node_id`; the receipt is theirs.
public fun stake(system: &mut System, node_id: ID, coin: Coin<SUI>, ctx: &mut TxContext): StakedSui {
    assert!(system.nodes.contains(&node_id), EUnknownNode);
    let amount = coin.value();
    assert!(amount > 0, EZeroStake);
    let pool = system.pools.get_mut(&node_id);
    assert!(staking::pool_active(pool), ENodeLeaving);
    let shares = staking::deposit(pool, amount);
    system.stakes.join(coin.into_balance());
    let staked = staking::new_staked(node_id, shares, amount, ctx);
    events::stake_deposited(system.epoch, node_id, object::id(&staked), amount, shares);
    staked
}

/// Stop a stake counting from the next committee on: its worth now (principal and
/// rewards) leaves the pool, withdrawable from the next epoch.
public fun request_withdraw_stake(system: &mut System, staked: &mut StakedSui) {
    assert!(!staking::staked_withdrawing(staked), EAlreadyWithdrawing);
    let node_id = staking::staked_node(staked);
    let pool = system.pools.get_mut(&node_id);
    let amount = staking::redeem(pool, staking::staked_shares(staked));
    let at = system.epoch + 1;
    staking::mark_withdrawing(staked, amount, at);
    events::stake_withdraw_requested(system.epoch, node_id, object::id(staked), amount, at);
}

/// Pay out a stake whose withdrawal was requested in an earlier epoch.
public fun withdraw_stake(system: &mut System, staked: StakedSui, ctx: &mut TxContext): Coin<SUI> {
    assert!(staking::staked_withdrawing(&staked), ENotWithdrawable);
    assert!(system.epoch >= staking::staked_withdraw_epoch(&staked), ENotWithdrawable);
    let node_id = staking::staked_node(&staked);
    let staked_id = object::id(&staked);
    let amount = staking::destroy_staked(staked);
    events::stake_withdrawn(system.epoch, node_id, staked_id, amount);
    system.stakes.split(amount).into_coin(ctx)
}

/// Anyone may start the next epoch once the current one has run its duration.
public fun advance_epoch(system: &mut System, clock: &Clock): u32 {
    let now = clock.timestamp_ms();
    assert!(now >= system.epoch_start_ms + system.epoch_duration_ms, EEpochNotOver);
    next_epoch(system, now)
}

/// The admin may force the next epoch (localnet).
public fun force_advance_epoch(system: &mut System, _: &AdminCap, clock: &Clock): u32 {
    next_epoch(system, clock.timestamp_ms())
}

public(package) fun reserve_capacity(system: &mut System, size: u64, start: u32, end: u32) {
    let len = system.max_epochs_ahead as u64;
    let mut e = start;
    while (e < end) {
        let slot = (e as u64) % len;
        assert!(system.usage[slot] + size <= system.total_capacity, EStorageExceeded);
        e = e + 1;
    };
    let mut e2 = start;
    while (e2 < end) {
        let slot = (e2 as u64) % len;
        *&mut system.usage[slot] = system.usage[slot] + size;
        e2 = e2 + 1;
    };
}

public(package) fun charge(system: &mut System, amount: u64, payment: &mut Coin<SUI>, ctx: &mut TxContext) {
    assert!(payment.value() >= amount, EInsufficientPayment);
    let paid = payment.split(amount, ctx);
    system.balance.join(paid.into_balance());
    system.epoch_fees = system.epoch_fees + amount;
}

/// Buy `storage_size` encoded bytes from now for `epochs_ahead` epochs.
public fun reserve_space(
    system: &mut System,
    storage_size: u64,
    epochs_ahead: u32,
    payment: &mut Coin<SUI>,
    ctx: &mut TxContext,
): Storage {
    assert!(storage_size > 0, EInvalidSize);
    assert!(epochs_ahead >= 1 && epochs_ahead <= system.max_epochs_ahead, EInvalidEpochsAhead);
    let start = system.epoch;
    let end = system.epoch + epochs_ahead;
    system.reserve_capacity(storage_size, start, end);
    let cost = system.storage_price * encoding::storage_units(storage_size) * (epochs_ahead as u64);
    system.charge(cost, payment, ctx);
    let storage = storage_resource::create(start, end, storage_size, ctx);
    events::storage_reserved(system.epoch, object::id(&storage), start, end, storage_size, cost);
    storage
}

/// Record a blob id as invalid with an f+1 certificate.
public fun invalidate_blob_id(system: &mut System, signature: vector<u8>, signers: vector<u8>, message: vector<u8>): u256 {
    let (epoch, blob_id) = messages::parse_invalid_blob(&message);
    committee::check_epoch(epoch, system.epoch);
    system.committee.verify(&signature, &signers, &message, false);
    if (!system.invalid_ids.contains(blob_id)) { system.invalid_ids.add(blob_id, true) };
    events::invalid_blob_id(system.epoch, blob_id);
    blob_id
}

public fun epoch(system: &System): u32 { system.epoch }

public fun n_shards(system: &System): u16 { system.n_shards }

public fun storage_price(system: &System): u64 { system.storage_price }

public fun write_price(system: &System): u64 { system.write_price }

public fun max_epochs_ahead(system: &System): u32 { system.max_epochs_ahead }

public fun total_capacity(system: &System): u64 { system.total_capacity }

public fun used_capacity(system: &System): u64 {
    system.usage[(system.epoch as u64) % (system.max_epochs_ahead as u64)]
}

public fun balance_value(system: &System): u64 { system.balance.value() }

public fun committee(system: &System): &Committee { &system.committee }

public fun is_invalid(system: &System, blob_id: u256): bool { system.invalid_ids.contains(blob_id) }

public fun node_count(system: &System): u64 { system.nodes.length() }

public fun previous_committee(system: &System): &Committee { &system.previous_committee }

public fun is_changing(system: &System): bool { system.changing }

public fun received(system: &System): vector<ID> { system.received }

public fun pool(system: &System, node_id: ID): Pool { *system.pools.get(&node_id) }

public fun stakes_value(system: &System): u64 { system.stakes.value() }

public fun epoch_fees(system: &System): u64 { system.epoch_fees }
