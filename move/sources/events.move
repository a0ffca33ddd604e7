/// Every event Haulout emits: the indexer's whole input. Python mirrors each struct 1:1
/// (haulout/chain/events.py); a test checks the field names and their order.
module haulout::events;

use std::string::String;
use sui::event;

public struct BlobRegistered has copy, drop {
    epoch: u32,
    blob_id: u256,
    size: u64,
    encoding_type: u8,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
}

public struct BlobCertified has copy, drop {
    epoch: u32,
    blob_id: u256,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
    is_extension: bool,
}

public struct BlobDeleted has copy, drop {
    epoch: u32,
    blob_id: u256,
    end_epoch: u32,
    object_id: ID,
    was_certified: bool,
}

public struct BlobAttributeSet has copy, drop {
    blob_id: u256,
    object_id: ID,
    key: String,
    value: String,
}

public struct BlobAttributeRemoved has copy, drop {
    blob_id: u256,
    object_id: ID,
    key: String,
}

public struct InvalidBlobID has copy, drop {
    epoch: u32,
    blob_id: u256,
}

public struct StorageReserved has copy, drop {
    epoch: u32,
    storage_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    paid: u64,
}

public struct EpochAdvanced has copy, drop {
    epoch: u32,
    start_ms: u64,
}

public struct NodeRegistered has copy, drop {
    node_id: ID,
    name: String,
    url: String,
    public_key: vector<u8>,
}

public struct CommitteeChanged has copy, drop {
    epoch: u32,
    members: vector<ID>,
    n_shards: u16,
}

public struct PricesUpdated has copy, drop {
    epoch: u32,
    storage_price: u64,
    write_price: u64,
}

public struct SharedBlobCreated has copy, drop {
    shared_blob_id: ID,
    blob_id: u256,
    object_id: ID,
    funds: u64,
}

public struct SharedBlobFunded has copy, drop {
    shared_blob_id: ID,
    amount: u64,
    funds: u64,
}

public struct BucketCreated has copy, drop {
    bucket_id: ID,
    name: String,
}

public struct BucketCommitted has copy, drop {
    bucket_id: ID,
    version: u64,
    base_version: u64,
    manifest_blob_id: u256,
    manifest_object_id: ID,
}

public struct BucketTagged has copy, drop {
    bucket_id: ID,
    tag: String,
    version: u64,
}

public struct BucketExtended has copy, drop {
    bucket_id: ID,
    version: u64,
    manifest_blob_id: u256,
    end_epoch: u32,
}

public struct BucketDeleted has copy, drop {
    bucket_id: ID,
    version: u64,
}

public(package) fun bucket_created(bucket_id: ID, name: String) {
    event::emit(BucketCreated { bucket_id, name })
}

public(package) fun bucket_committed(bucket_id: ID, version: u64, base_version: u64, manifest_blob_id: u256, manifest_object_id: ID) {
    event::emit(BucketCommitted { bucket_id, version, base_version, manifest_blob_id, manifest_object_id })
}

public(package) fun bucket_tagged(bucket_id: ID, tag: String, version: u64) {
    event::emit(BucketTagged { bucket_id, tag, version })
}

public(package) fun bucket_extended(bucket_id: ID, version: u64, manifest_blob_id: u256, end_epoch: u32) {
    event::emit(BucketExtended { bucket_id, version, manifest_blob_id, end_epoch })
}

public(package) fun bucket_deleted(bucket_id: ID, version: u64) {
    event::emit(BucketDeleted { bucket_id, version })
}

public struct EpochChangeStart has copy, drop {
    epoch: u32,
    members: vector<ID>,
    shards_moved: u64,
}

public struct ShardsReceived has copy, drop {
    epoch: u32,
    node_id: ID,
    shards: vector<u16>,
}

public struct EpochChangeDone has copy, drop {
    epoch: u32,
}

public struct RewardsDistributed has copy, drop {
    epoch: u32,
    node_id: ID,
    shards: u64,
    reward: u64,
    stake: u64,
}

public struct StakeDeposited has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_id: ID,
    amount: u64,
    shares: u64,
}

public struct StakeWithdrawRequested has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_id: ID,
    amount: u64,
    withdraw_epoch: u32,
}

public struct StakeWithdrawn has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_id: ID,
    amount: u64,
}

public struct NodeLeaving has copy, drop {
    epoch: u32,
    node_id: ID,
}

public(package) fun shared_blob_created(shared_blob_id: ID, blob_id: u256, object_id: ID, funds: u64) {
    event::emit(SharedBlobCreated { shared_blob_id, blob_id, object_id, funds })
}

public(package) fun shared_blob_funded(shared_blob_id: ID, amount: u64, funds: u64) {
    event::emit(SharedBlobFunded { shared_blob_id, amount, funds })
}

public(package) fun blob_registered(epoch: u32, blob_id: u256, size: u64, encoding_type: u8, end_epoch: u32, deletable: bool, object_id: ID) {
    event::emit(BlobRegistered { epoch, blob_id, size, encoding_type, end_epoch, deletable, object_id })
}

public(package) fun blob_certified(epoch: u32, blob_id: u256, end_epoch: u32, deletable: bool, object_id: ID, is_extension: bool) {
    event::emit(BlobCertified { epoch, blob_id, end_epoch, deletable, object_id, is_extension })
}

public(package) fun blob_deleted(epoch: u32, blob_id: u256, end_epoch: u32, object_id: ID, was_certified: bool) {
    event::emit(BlobDeleted { epoch, blob_id, end_epoch, object_id, was_certified })
}

public(package) fun blob_attribute_set(blob_id: u256, object_id: ID, key: String, value: String) {
    event::emit(BlobAttributeSet { blob_id, object_id, key, value })
}

public(package) fun blob_attribute_removed(blob_id: u256, object_id: ID, key: String) {
    event::emit(BlobAttributeRemoved { blob_id, object_id, key })
}

public(package) fun invalid_blob_id(epoch: u32, blob_id: u256) {
    event::emit(InvalidBlobID { epoch, blob_id })
}

public(package) fun storage_reserved(epoch: u32, storage_id: ID, start_epoch: u32, end_epoch: u32, storage_size: u64, paid: u64) {
    event::emit(StorageReserved { epoch, storage_id, start_epoch, end_epoch, storage_size, paid })
}

public(package) fun epoch_advanced(epoch: u32, start_ms: u64) {
    event::emit(EpochAdvanced { epoch, start_ms })
}

public(package) fun node_registered(node_id: ID, name: String, url: String, public_key: vector<u8>) {
    event::emit(NodeRegistered { node_id, name, url, public_key })
}

public(package) fun committee_changed(epoch: u32, members: vector<ID>, n_shards: u16) {
    event::emit(CommitteeChanged { epoch, members, n_shards })
}

public(package) fun prices_updated(epoch: u32, storage_price: u64, write_price: u64) {
    event::emit(PricesUpdated { epoch, storage_price, write_price })
}

#[test_only]
public fun new_blob_registered(epoch: u32, blob_id: u256, size: u64, encoding_type: u8, end_epoch: u32, deletable: bool, object_id: ID): BlobRegistered {
    BlobRegistered { epoch, blob_id, size, encoding_type, end_epoch, deletable, object_id }
}

#[test_only]
public fun new_blob_certified(epoch: u32, blob_id: u256, end_epoch: u32, deletable: bool, object_id: ID, is_extension: bool): BlobCertified {
    BlobCertified { epoch, blob_id, end_epoch, deletable, object_id, is_extension }
}

#[test_only]
public fun new_blob_deleted(epoch: u32, blob_id: u256, end_epoch: u32, object_id: ID, was_certified: bool): BlobDeleted {
    BlobDeleted { epoch, blob_id, end_epoch, object_id, was_certified }
}

#[test_only]
public fun new_storage_reserved(epoch: u32, storage_id: ID, start_epoch: u32, end_epoch: u32, storage_size: u64, paid: u64): StorageReserved {
    StorageReserved { epoch, storage_id, start_epoch, end_epoch, storage_size, paid }
}

#[test_only]
public fun new_epoch_advanced(epoch: u32, start_ms: u64): EpochAdvanced { EpochAdvanced { epoch, start_ms } }

#[test_only]
public fun new_shared_blob_funded(shared_blob_id: ID, amount: u64, funds: u64): SharedBlobFunded {
    SharedBlobFunded { shared_blob_id, amount, funds }
}

#[test_only]
public fun new_bucket_committed(bucket_id: ID, version: u64, base_version: u64, manifest_blob_id: u256, manifest_object_id: ID): BucketCommitted {
    BucketCommitted { bucket_id, version, base_version, manifest_blob_id, manifest_object_id }
}

#[test_only]
public fun new_bucket_extended(bucket_id: ID, version: u64, manifest_blob_id: u256, end_epoch: u32): BucketExtended {
    BucketExtended { bucket_id, version, manifest_blob_id, end_epoch }
}

public(package) fun epoch_change_start(epoch: u32, members: vector<ID>, shards_moved: u64) {
    event::emit(EpochChangeStart { epoch, members, shards_moved })
}

public(package) fun shards_received(epoch: u32, node_id: ID, shards: vector<u16>) {
    event::emit(ShardsReceived { epoch, node_id, shards })
}

public(package) fun epoch_change_done(epoch: u32) {
    event::emit(EpochChangeDone { epoch })
}

public(package) fun rewards_distributed(epoch: u32, node_id: ID, shards: u64, reward: u64, stake: u64) {
    event::emit(RewardsDistributed { epoch, node_id, shards, reward, stake })
}

public(package) fun stake_deposited(epoch: u32, node_id: ID, staked_id: ID, amount: u64, shares: u64) {
    event::emit(StakeDeposited { epoch, node_id, staked_id, amount, shares })
}

public(package) fun stake_withdraw_requested(epoch: u32, node_id: ID, staked_id: ID, amount: u64, withdraw_epoch: u32) {
    event::emit(StakeWithdrawRequested { epoch, node_id, staked_id, amount, withdraw_epoch })
}

public(package) fun stake_withdrawn(epoch: u32, node_id: ID, staked_id: ID, amount: u64) {
    event::emit(StakeWithdrawn { epoch, node_id, staked_id, amount })
}

public(package) fun node_leaving(epoch: u32, node_id: ID) {
    event::emit(NodeLeaving { epoch, node_id })
}
