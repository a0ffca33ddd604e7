/// The shared System object: epoch, committee, capacity, prices, parameters; and the admin
/// calls. Same checks, order and abort codes as DevChain (haulout/chain/devchain.py).
module haulout::system;

use haulout::committee::{Self, Committee};
use haulout::encoding;
use haulout::events;
use haulout::messages;
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
    system.committee = committee::new(members, system.n_shards);
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
    let len = system.max_epochs_ahead as u64;
    let slot = (system.epoch as u64) % len;
    *&mut system.usage[slot] = 0; // that slot now stands for epoch + max_epochs_ahead
    system.epoch = system.epoch + 1;
    system.epoch_start_ms = now_ms;
    events::epoch_advanced(system.epoch, now_ms);
    system.epoch
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
