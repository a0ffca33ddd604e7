/// Blob objects: register (blob id derivation, encoded length, storage bounds, write fee),
/// certify (BLS certificate), extend, delete, burn and attributes.
module haulout::blob;

use haulout::committee;
use haulout::encoding;
use haulout::events;
use haulout::messages;
use haulout::storage_resource::Storage;
use haulout::system::System;
use std::string::String;
use sui::coin::Coin;
use sui::dynamic_field as df;
use sui::sui::SUI;
use sui::vec_map::{Self, VecMap};

const EInvalidBlobId: u64 = 1;
const EResourceBounds: u64 = 2;
const EResourceSize: u64 = 3;
const EAlreadyCertified: u64 = 4;
const EBlobIdMismatch: u64 = 5;
const EPersistenceMismatch: u64 = 6;
const EObjectIdMismatch: u64 = 7;
const ENotDeletable: u64 = 8;
const EBlobExpired: u64 = 9;
const ENotCertified: u64 = 10;
const EUnsupportedEncoding: u64 = 11;
const EAttributeNotFound: u64 = 12;
const EBlobIdInvalidated: u64 = 13;
const EInvalidExtension: u64 = 14;
const EAttributeKeyTooLong: u64 = 15;
const EAttributeValueTooLong: u64 = 16;

/// Longest attribute key and value in bytes (haulout/protocol/attributes.py: MAX_KEY_BYTES,
/// MAX_VALUE_BYTES): attributes are served as HTTP headers and mirrored by indexers.
const MAX_ATTRIBUTE_KEY_LENGTH: u64 = 128;
const MAX_ATTRIBUTE_VALUE_LENGTH: u64 = 1024;

const ATTRIBUTES_KEY: vector<u8> = b"attributes";

public struct Blob has key, store {
    id: UID,
    registered_epoch: u32,
    blob_id: u256,
    size: u64,
    encoding_type: u8,
    certified_epoch: Option<u32>,
    storage: Storage,
    deletable: bool,
}

public fun register_blob(
    system: &mut System,
    storage: Storage,
    blob_id: u256,
    root_hash: u256,
    size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<SUI>,
    ctx: &mut TxContext,
): Blob {
    assert!(encoding::supports(encoding_type, system.n_shards()), EUnsupportedEncoding);
    assert!(!system.is_invalid(blob_id), EBlobIdInvalidated);
    assert!(encoding::derive_blob_id(encoding_type, size, root_hash) == blob_id, EInvalidBlobId);
    let epoch = system.epoch();
    assert!(storage.start_epoch() <= epoch && epoch < storage.end_epoch(), EResourceBounds);
    let needed = encoding::encoded_length(system.n_shards(), size, encoding_type);
    assert!(needed <= storage.size(), EResourceSize);
    let fee = system.write_price() * encoding::storage_units(needed);
    system.charge(fee, write_payment, ctx);
    let end_epoch = storage.end_epoch();
    let blob = Blob {
        id: object::new(ctx),
        registered_epoch: epoch,
        blob_id,
        size,
        encoding_type,
        certified_epoch: option::none(),
        storage,
        deletable,
    };
    events::blob_registered(epoch, blob_id, size, encoding_type, end_epoch, deletable, object::id(&blob));
    blob
}

public fun certify_blob(system: &System, blob: &mut Blob, signature: vector<u8>, signers: vector<u8>, message: vector<u8>) {
    assert!(blob.certified_epoch.is_none(), EAlreadyCertified);
    let epoch = system.epoch();
    assert!(epoch < blob.storage.end_epoch(), EBlobExpired);
    let msg = messages::parse_certified_blob(&message);
    committee::check_epoch(msg.epoch(), epoch);
    assert!(msg.blob_id() == blob.blob_id, EBlobIdMismatch);
    assert!(msg.object_id().is_some() == blob.deletable, EPersistenceMismatch);
    if (blob.deletable) {
        assert!(*msg.object_id().borrow() == object::id(blob), EObjectIdMismatch);
    };
    system.committee().verify(&signature, &signers, &message, true);
    blob.certified_epoch = option::some(epoch);
    events::blob_certified(epoch, blob.blob_id, blob.storage.end_epoch(), blob.deletable, object::id(blob), false);
}

public fun extend_blob(system: &mut System, blob: &mut Blob, extended_epochs: u32, payment: &mut Coin<SUI>, ctx: &mut TxContext) {
    assert!(blob.certified_epoch.is_some(), ENotCertified);
    let epoch = system.epoch();
    let end = blob.storage.end_epoch();
    assert!(epoch < end, EBlobExpired);
    assert!(extended_epochs > 0 && end + extended_epochs - epoch <= system.max_epochs_ahead(), EInvalidExtension);
    let size = blob.storage.size();
    system.reserve_capacity(size, end, end + extended_epochs);
    let cost = system.storage_price() * encoding::storage_units(size) * (extended_epochs as u64);
    system.charge(cost, payment, ctx);
    blob.storage.extend_end_epoch(extended_epochs);
    events::blob_certified(epoch, blob.blob_id, blob.storage.end_epoch(), blob.deletable, object::id(blob), true);
}

/// Delete a deletable blob; its Storage goes back to the caller for reuse.
public fun delete_blob(system: &System, blob: Blob): Storage {
    assert!(blob.deletable, ENotDeletable);
    let mut blob = blob;
    drop_attributes(&mut blob);
    let Blob { id, registered_epoch: _, blob_id, size: _, encoding_type: _, certified_epoch, storage, deletable: _ } = blob;
    events::blob_deleted(system.epoch(), blob_id, storage.end_epoch(), id.to_inner(), certified_epoch.is_some());
    id.delete();
    storage
}

/// Destroy a Blob object; the blob stays stored until its end epoch.
public fun burn(blob: Blob) {
    let mut blob = blob;
    drop_attributes(&mut blob);
    let Blob { id, registered_epoch: _, blob_id: _, size: _, encoding_type: _, certified_epoch: _, storage, deletable: _ } = blob;
    id.delete();
    storage.destroy_for_burn();
}

public fun set_attribute(blob: &mut Blob, key: String, value: String) {
    assert!(key.length() <= MAX_ATTRIBUTE_KEY_LENGTH, EAttributeKeyTooLong);
    assert!(value.length() <= MAX_ATTRIBUTE_VALUE_LENGTH, EAttributeValueTooLong);
    if (!df::exists_(&blob.id, ATTRIBUTES_KEY)) {
        df::add(&mut blob.id, ATTRIBUTES_KEY, vec_map::empty<String, String>());
    };
    let attributes: &mut VecMap<String, String> = df::borrow_mut(&mut blob.id, ATTRIBUTES_KEY);
    if (attributes.contains(&key)) { attributes.remove(&key); };
    attributes.insert(key, value);
    events::blob_attribute_set(blob.blob_id, object::id(blob), key, value);
}

public fun remove_attribute(blob: &mut Blob, key: String) {
    assert!(df::exists_(&blob.id, ATTRIBUTES_KEY), EAttributeNotFound);
    let attributes: &mut VecMap<String, String> = df::borrow_mut(&mut blob.id, ATTRIBUTES_KEY);
    assert!(attributes.contains(&key), EAttributeNotFound);
    attributes.remove(&key);
    events::blob_attribute_removed(blob.blob_id, object::id(blob), key);
}

public fun attribute(blob: &Blob, key: &String): Option<String> {
    if (!df::exists_(&blob.id, ATTRIBUTES_KEY)) { return option::none() };
    let attributes: &VecMap<String, String> = df::borrow(&blob.id, ATTRIBUTES_KEY);
    if (attributes.contains(key)) { option::some(*attributes.get(key)) } else { option::none() }
}

fun drop_attributes(blob: &mut Blob) {
    if (df::exists_(&blob.id, ATTRIBUTES_KEY)) {
        let _: VecMap<String, String> = df::remove(&mut blob.id, ATTRIBUTES_KEY);
    };
}

public fun blob_id(b: &Blob): u256 { b.blob_id }

public fun size(b: &Blob): u64 { b.size }

public fun registered_epoch(b: &Blob): u32 { b.registered_epoch }

public fun certified_epoch(b: &Blob): Option<u32> { b.certified_epoch }

public fun end_epoch(b: &Blob): u32 { b.storage.end_epoch() }

public fun storage(b: &Blob): &Storage { &b.storage }

public fun is_deletable(b: &Blob): bool { b.deletable }
