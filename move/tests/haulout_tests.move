/// Unit tests for every public function's success path and abort codes. They use the pinned
/// Python vectors (tests/test_vectors.move): real node keys, proofs of possession and
/// certificates. Tests whose outcome depends on real BLS arithmetic live in tests/crypto/.
#[test_only]
module haulout::haulout_tests;

use haulout::blob::{Self, Blob};
use haulout::committee;
use haulout::encoding;
use haulout::events;
use haulout::messages;
use haulout::shared_blob::{Self, SharedBlob};
use haulout::storage_resource::{Self, Storage};
use haulout::system::{Self, AdminCap, System};
use haulout::test_vectors as v;
use std::string;
use std::unit_test::destroy;
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xAD;
const USER: address = @0xB0B;
const STORAGE_PRICE: u64 = 1000;
const WRITE_PRICE: u64 = 2000;

public struct World {
    scenario: Scenario,
    clock: Clock,
    cap: AdminCap,
    system: System,
    coin: Coin<SUI>,
}

/// A System with 10 shards over the 4 vector nodes (3, 3, 2, 2), moved to epoch 1.
fun setup_with(capacity: u64): World {
    let mut scenario = ts::begin(ADMIN);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<AdminCap>();
    let mut clock = clock::create_for_testing(scenario.ctx());
    clock.set_for_testing(1_000_000);
    system::create_system(&cap, v::n_shards(), 1000, STORAGE_PRICE, WRITE_PRICE, capacity, 53, &clock, scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut system = scenario.take_shared<System>();
    let keys = v::public_keys();
    let pops = v::pops();
    let addrs = v::addresses();
    let mut ids = vector[];
    let mut i = 0;
    while (i < 4) {
        ids.push_back(system.register_node(&cap, string::utf8(b"node"), string::utf8(b"http://127.0.0.1"), keys[i], pops[i], addrs[i], scenario.ctx()));
        i = i + 1;
    };
    system.set_committee(&cap, ids, v::shards());
    system.force_advance_epoch(&cap, &clock);
    let coin = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());
    World { scenario, clock, cap, system, coin }
}

fun setup(): World { setup_with(1 << 40) }

fun finish(w: World) {
    let World { scenario, clock, cap, system, coin } = w;
    ts::return_shared(system);
    clock.destroy_for_testing();
    destroy(cap);
    destroy(coin);
    scenario.end();
}

fun force_epoch(w: &mut World) {
    let World { scenario: _, clock, cap, system, coin: _ } = w;
    system.force_advance_epoch(cap, clock);
}

fun advance(w: &mut World): u32 {
    let World { scenario: _, clock, cap: _, system, coin: _ } = w;
    system.advance_epoch(clock)
}

fun register_vector_blob(w: &mut World, epochs: u32, deletable: bool): Blob {
    let size = encoding::encoded_length(v::n_shards(), v::size(), 0);
    let storage = w.system.reserve_space(size, epochs, &mut w.coin, w.scenario.ctx());
    blob::register_blob(&mut w.system, storage, v::blob_id(), v::root(), v::size(), 0, deletable, &mut w.coin, w.scenario.ctx())
}

fun certify(w: &World, b: &mut Blob, cert: v::Cert) {
    blob::certify_blob(&w.system, b, cert.signature(), cert.signers(), cert.message());
}

#[test]
fun setup_registers_nodes_and_committee() {
    let w = setup();
    assert!(w.system.epoch() == 1);
    assert!(w.system.node_count() == 4);
    assert!(w.system.committee().size() == 4);
    assert!(w.system.committee().weight_of(0) == 3 && w.system.committee().weight_of(3) == 2);
    finish(w);
}

#[test]
fun register_and_certify_with_a_quorum() {
    let mut w = setup();
    let before = w.coin.value();
    let mut b = register_vector_blob(&mut w, 3, false);
    let encoded = encoding::encoded_length(10, 5, 0);
    let units = encoding::storage_units(encoded);
    assert!(before - w.coin.value() == STORAGE_PRICE * units * 3 + WRITE_PRICE * units);
    assert!(w.system.balance_value() == before - w.coin.value());
    let registered = event::events_by_type<events::BlobRegistered>();
    assert!(registered == vector[events::new_blob_registered(1, v::blob_id(), 5, 0, 4, false, object::id(&b))]);
    certify(&w, &mut b, v::permanent_quorum());
    assert!(b.certified_epoch() == option::some(1));
    let certified = event::events_by_type<events::BlobCertified>();
    assert!(certified == vector[events::new_blob_certified(1, v::blob_id(), 4, false, object::id(&b), false)]);
    destroy(b);
    finish(w);
}

#[test]
fun exact_quorum_certifies() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_exact()); // 3 + 2 + 2 = 7 shards: 3*7 >= 21
    assert!(b.certified_epoch().is_some());
    destroy(b);
    finish(w);
}

#[test, expected_failure(abort_code = committee::ENotEnoughWeight)]
fun one_shard_short_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_short()); // 6 shards
    abort 0
}

#[test, expected_failure(abort_code = committee::EWrongEpoch)]
fun stale_epoch_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::stale_epoch());
    abort 0
}

#[test, expected_failure(abort_code = blob::EAlreadyCertified)]
fun double_certify_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    certify(&w, &mut b, v::permanent_all());
    abort 0
}

#[test, expected_failure(abort_code = blob::EBlobIdMismatch)]
fun certificate_for_another_blob_fails() {
    let mut w = setup();
    let root = 77;
    let id = encoding::derive_blob_id(0, 9, root);
    let storage = w.system.reserve_space(1 << 20, 2, &mut w.coin, w.scenario.ctx());
    let mut b = blob::register_blob(&mut w.system, storage, id, root, 9, 0, false, &mut w.coin, w.scenario.ctx());
    certify(&w, &mut b, v::permanent_quorum());
    abort 0
}

#[test, expected_failure(abort_code = blob::EPersistenceMismatch)]
fun permanent_certificate_for_deletable_blob_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, true);
    certify(&w, &mut b, v::permanent_quorum());
    abort 0
}

#[test, expected_failure(abort_code = blob::EObjectIdMismatch)]
fun deletable_certificate_for_another_object_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, true);
    certify(&w, &mut b, v::deletable_quorum());
    abort 0
}

#[test, expected_failure(abort_code = committee::EInvalidBitmap)]
fun malformed_bitmap_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    let c = v::permanent_quorum();
    let (sig, msg) = (c.signature(), c.message());
    blob::certify_blob(&w.system, &mut b, sig, x"0700", msg);
    abort 0
}

#[test, expected_failure(abort_code = committee::EInvalidBitmap)]
fun bitmap_bit_past_committee_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    let c = v::permanent_quorum();
    let (sig, msg) = (c.signature(), c.message());
    blob::certify_blob(&w.system, &mut b, sig, x"17", msg);
    abort 0
}

#[test, expected_failure(abort_code = blob::EBlobExpired)]
fun certify_after_expiry_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 1, false);
    force_epoch(&mut w);
    certify(&w, &mut b, v::permanent_quorum());
    abort 0
}

#[test, expected_failure(abort_code = blob::EInvalidBlobId)]
fun wrong_derivation_fails() {
    let mut w = setup();
    let storage = w.system.reserve_space(1 << 20, 2, &mut w.coin, w.scenario.ctx());
    let _b = blob::register_blob(&mut w.system, storage, v::blob_id(), v::root() + 1, v::size(), 0, false, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = blob::EResourceSize)]
fun storage_too_small_fails() {
    let mut w = setup();
    let storage = w.system.reserve_space(100, 2, &mut w.coin, w.scenario.ctx());
    let _b = blob::register_blob(&mut w.system, storage, v::blob_id(), v::root(), v::size(), 0, false, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun expired_storage_fails() {
    let mut w = setup();
    let storage = w.system.reserve_space(1 << 20, 1, &mut w.coin, w.scenario.ctx());
    force_epoch(&mut w);
    let _b = blob::register_blob(&mut w.system, storage, v::blob_id(), v::root(), v::size(), 0, false, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = blob::EUnsupportedEncoding)]
fun unknown_encoding_fails() {
    let mut w = setup();
    let storage = w.system.reserve_space(1 << 20, 1, &mut w.coin, w.scenario.ctx());
    let _b = blob::register_blob(&mut w.system, storage, v::blob_id(), v::root(), v::size(), 2, false, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = system::EInsufficientPayment)]
fun insufficient_payment_fails() {
    let mut w = setup();
    let mut poor = coin::mint_for_testing<SUI>(10, w.scenario.ctx());
    let _s = w.system.reserve_space(5 << 20, 2, &mut poor, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidEpochsAhead)]
fun too_many_epochs_fails() {
    let mut w = setup();
    let _s = w.system.reserve_space(100, 54, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidSize)]
fun zero_size_reservation_fails() {
    let mut w = setup();
    let _s = w.system.reserve_space(0, 1, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test]
fun capacity_is_per_epoch() {
    let mut w = setup_with(3 << 20);
    let a = w.system.reserve_space(2 << 20, 2, &mut w.coin, w.scenario.ctx());
    assert!(w.system.used_capacity() == 2 << 20);
    force_epoch(&mut w);
    force_epoch(&mut w);
    let b = w.system.reserve_space(2 << 20, 1, &mut w.coin, w.scenario.ctx()); // a has ended
    destroy(a);
    destroy(b);
    finish(w);
}

#[test, expected_failure(abort_code = system::EStorageExceeded)]
fun capacity_exceeded_fails() {
    let mut w = setup_with(3 << 20);
    let _a = w.system.reserve_space(2 << 20, 2, &mut w.coin, w.scenario.ctx());
    let _b = w.system.reserve_space(2 << 20, 1, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test]
fun reserve_space_emits_storage_reserved_with_cost() {
    let mut w = setup();
    let s = w.system.reserve_space(3 << 20, 4, &mut w.coin, w.scenario.ctx());
    let ev = event::events_by_type<events::StorageReserved>();
    assert!(ev == vector[events::new_storage_reserved(1, object::id(&s), 1, 5, 3 << 20, STORAGE_PRICE * 3 * 4)]);
    destroy(s);
    finish(w);
}

#[test]
fun extend_certified_blob_and_pay() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    let before = w.coin.value();
    blob::extend_blob(&mut w.system, &mut b, 3, &mut w.coin, w.scenario.ctx());
    assert!(b.end_epoch() == 6);
    let units = encoding::storage_units(b.storage().size());
    assert!(before - w.coin.value() == STORAGE_PRICE * units * 3);
    destroy(b);
    finish(w);
}

#[test, expected_failure(abort_code = blob::ENotCertified)]
fun extend_uncertified_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    blob::extend_blob(&mut w.system, &mut b, 1, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = blob::EInvalidExtension)]
fun extend_past_max_epochs_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    blob::extend_blob(&mut w.system, &mut b, 60, &mut w.coin, w.scenario.ctx());
    abort 0
}

#[test]
fun delete_returns_storage_for_reuse() {
    let mut w = setup();
    let b = register_vector_blob(&mut w, 3, true);
    let object_id = object::id(&b);
    let storage = blob::delete_blob(&w.system, b);
    assert!(storage.start_epoch() == 1 && storage.end_epoch() == 4);
    assert!(event::events_by_type<events::BlobDeleted>() == vector[events::new_blob_deleted(1, v::blob_id(), 4, object_id, false)]);
    let again = blob::register_blob(&mut w.system, storage, v::blob_id(), v::root(), v::size(), 0, false, &mut w.coin, w.scenario.ctx());
    destroy(again);
    finish(w);
}

#[test, expected_failure(abort_code = blob::ENotDeletable)]
fun delete_permanent_fails() {
    let mut w = setup();
    let b = register_vector_blob(&mut w, 2, false);
    let _s = blob::delete_blob(&w.system, b);
    abort 0
}

#[test]
fun burn_destroys_the_object() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    b.set_attribute(string::utf8(b"k"), string::utf8(b"v"));
    blob::burn(b);
    finish(w);
}

#[test]
fun attributes_set_replace_remove() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    let key = string::utf8(b"content-type");
    b.set_attribute(key, string::utf8(b"text/plain"));
    b.set_attribute(key, string::utf8(b"image/png"));
    assert!(b.attribute(&key) == option::some(string::utf8(b"image/png")));
    b.remove_attribute(key);
    assert!(b.attribute(&key).is_none());
    destroy(b);
    finish(w);
}

#[test, expected_failure(abort_code = blob::EAttributeNotFound)]
fun remove_missing_attribute_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    b.remove_attribute(string::utf8(b"nope"));
    abort 0
}

fun repeated(byte: u8, n: u64): string::String {
    let mut bytes = vector[];
    let mut i = 0;
    while (i < n) {
        bytes.push_back(byte);
        i = i + 1;
    };
    string::utf8(bytes)
}

#[test]
fun attribute_at_the_length_limits_is_stored() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    let key = repeated(0x6b, 128);
    b.set_attribute(key, repeated(0x76, 1024));
    assert!(b.attribute(&key) == option::some(repeated(0x76, 1024)));
    destroy(b);
    finish(w);
}

#[test, expected_failure(abort_code = blob::EAttributeKeyTooLong)]
fun attribute_key_over_128_bytes_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    b.set_attribute(repeated(0x6b, 129), string::utf8(b"v"));
    abort 0
}

#[test, expected_failure(abort_code = blob::EAttributeValueTooLong)]
fun attribute_value_over_1024_bytes_fails_even_on_replace() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    b.set_attribute(string::utf8(b"content-type"), string::utf8(b"text/plain"));
    b.set_attribute(string::utf8(b"content-type"), repeated(0x76, 1025));
    abort 0
}

#[test]
fun invalidate_blob_id_with_f_plus_one() {
    let mut w = setup();
    let c = v::invalidate();
    let (sig, signers, msg) = (c.signature(), c.signers(), c.message());
    assert!(w.system.invalidate_blob_id(sig, signers, msg) == v::blob_id());
    assert!(w.system.is_invalid(v::blob_id()));
    finish(w);
}

#[test, expected_failure(abort_code = blob::EBlobIdInvalidated)]
fun register_invalidated_blob_fails() {
    let mut w = setup();
    let c = v::invalidate();
    let (sig, signers, msg) = (c.signature(), c.signers(), c.message());
    w.system.invalidate_blob_id(sig, signers, msg);
    let _b = register_vector_blob(&mut w, 2, false);
    abort 0
}

#[test, expected_failure(abort_code = messages::EIncorrectIntentType)]
fun invalidate_with_certification_message_fails() {
    let mut w = setup();
    let c = v::permanent_quorum();
    let (sig, signers, msg) = (c.signature(), c.signers(), c.message());
    w.system.invalidate_blob_id(sig, signers, msg);
    abort 0
}

#[test]
fun storage_split_and_fuse_numbers() {
    let mut w = setup();
    let mut s = w.system.reserve_space(10_000, 6, &mut w.coin, w.scenario.ctx()); // [1, 7)
    let late = s.split_by_epoch(5, w.scenario.ctx());
    assert!(s.end_epoch() == 5 && late.start_epoch() == 5 && late.end_epoch() == 7);
    let part = s.split_by_size(3_000, w.scenario.ctx());
    assert!(s.size() == 7_000 && part.size() == 3_000);
    s.fuse(part);
    assert!(s.size() == 10_000);
    s.fuse(late);
    assert!(s.start_epoch() == 1 && s.end_epoch() == 7 && s.size() == 10_000);
    destroy(s);
    finish(w);
}

#[test, expected_failure(abort_code = storage_resource::EIncompatibleSize)]
fun fuse_adjacent_different_sizes_fails() {
    let mut w = setup();
    let mut s = w.system.reserve_space(10_000, 6, &mut w.coin, w.scenario.ctx());
    let mut late = s.split_by_epoch(5, w.scenario.ctx());
    let _p = late.split_by_size(1, w.scenario.ctx());
    s.fuse(late);
    abort 0
}

#[test, expected_failure(abort_code = storage_resource::EIncompatibleEpochs)]
fun fuse_disjoint_fails() {
    let mut w = setup();
    let mut s = w.system.reserve_space(10_000, 6, &mut w.coin, w.scenario.ctx());
    let mut mid = s.split_by_epoch(3, w.scenario.ctx());
    let last = mid.split_by_epoch(5, w.scenario.ctx());
    s.fuse(last);
    abort 0
}

#[test, expected_failure(abort_code = storage_resource::EInvalidSplitEpoch)]
fun split_at_end_fails() {
    let mut w = setup();
    let mut s = w.system.reserve_space(10_000, 2, &mut w.coin, w.scenario.ctx());
    let _x: Storage = s.split_by_epoch(3, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = storage_resource::EInvalidSplitSize)]
fun split_whole_size_fails() {
    let mut w = setup();
    let mut s = w.system.reserve_space(10_000, 2, &mut w.coin, w.scenario.ctx());
    let _x = s.split_by_size(10_000, w.scenario.ctx());
    abort 0
}

#[test]
fun epochs_advance_with_the_clock() {
    let mut w = setup();
    w.clock.increment_for_testing(1000);
    assert!(advance(&mut w) == 2);
    assert!(event::events_by_type<events::EpochAdvanced>() == vector[events::new_epoch_advanced(1, 1_000_000), events::new_epoch_advanced(2, 1_001_000)]);
    finish(w);
}

#[test, expected_failure(abort_code = system::EEpochNotOver)]
fun advancing_early_fails() {
    let mut w = setup();
    advance(&mut w);
    abort 0
}

#[test]
fun prices_and_capacity_updates() {
    let mut w = setup();
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.set_prices(cap, 7, 9);
    };
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.set_capacity(cap, 123);
    };
    assert!(w.system.storage_price() == 7 && w.system.write_price() == 9 && w.system.total_capacity() == 123);
    finish(w);
}

#[test, expected_failure(abort_code = system::EUnknownNode)]
fun committee_with_unknown_node_fails() {
    let mut w = setup();
    let ids = vector[object::id_from_address(@0x1234)];
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.set_committee(cap, ids, vector[vector[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    };
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidCommittee)]
fun committee_missing_a_shard_fails() {
    let mut w = setup();
    let ids = w.system.committee().node_ids();
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.set_committee(cap, ids, vector[vector[0, 1, 2], vector[3, 4, 5], vector[6, 7], vector[8]]);
    };
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidCommittee)]
fun committee_with_shard_twice_fails() {
    let mut w = setup();
    let ids = w.system.committee().node_ids();
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.set_committee(cap, ids, vector[vector[0, 1, 2], vector[3, 4, 5], vector[6, 7], vector[8, 9, 0]]);
    };
    abort 0
}

#[test, expected_failure(abort_code = system::ENodeAlreadyRegistered)]
fun registering_a_key_twice_fails() {
    let mut w = setup();
    {
        let World { scenario, clock: _, cap, system, coin: _ } = &mut w;
        system.register_node(cap, string::utf8(b"again"), string::utf8(b""), v::public_keys()[0], v::pops()[0], v::addresses()[0], scenario.ctx());
    };
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidShardCount)]
fun too_many_shards_fails() {
    let mut scenario = ts::begin(ADMIN);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<AdminCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    system::create_system(&cap, 4097, 1000, 1, 1, 1, 1, &clock, scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = messages::EIncorrectAppId)]
fun wrong_app_id_fails() { messages::parse_header(&x"01004900000000", 1); }

#[test, expected_failure(abort_code = messages::EIncorrectIntentVersion)]
fun wrong_intent_version_fails() { messages::parse_header(&x"01014800000000", 1); }

#[test, expected_failure(abort_code = messages::EInvalidMessageLength)]
fun short_message_fails() { messages::parse_header(&x"010048", 1); }

#[test, expected_failure(abort_code = messages::EInvalidPersistence)]
fun bad_persistence_byte_fails() {
    let mut msg = x"01004801000000";
    let mut i = 0u64;
    while (i < 32) { msg.push_back(0); i = i + 1; };
    msg.push_back(2);
    messages::parse_certified_blob(&msg);
}

#[test]
fun message_parsing_reads_epoch_and_ids() {
    let msg = v::deletable_quorum().message();
    let m = messages::parse_certified_blob(&msg);
    assert!(m.epoch() == 1 && m.blob_id() == v::blob_id() && m.object_id().is_some());
}

#[test]
fun other_users_can_store_too() {
    let mut w = setup();
    w.scenario.next_tx(USER);
    let mut coin = coin::mint_for_testing<SUI>(1_000_000_000, w.scenario.ctx());
    let s = w.system.reserve_space(1 << 20, 1, &mut coin, w.scenario.ctx());
    destroy(s);
    destroy(coin);
    finish(w);
}

/// Share a certified blob, then hand the transaction to `sender`: the System and the
/// SharedBlob are taken again as that account would.
fun share_and_switch(w: World, b: Blob, sender: address): (World, SharedBlob) {
    let World { mut scenario, clock, cap, system, coin } = w;
    shared_blob::new(b, scenario.ctx());
    ts::return_shared(system);
    scenario.next_tx(sender);
    let system = scenario.take_shared<System>();
    let sb = scenario.take_shared<SharedBlob>();
    (World { scenario, clock, cap, system, coin }, sb)
}

#[test]
fun shared_blob_funded_and_extended_by_another_account() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    let (mut w, mut sb) = share_and_switch(w, b, USER);
    let gift = coin::mint_for_testing<SUI>(1_000_000_000, w.scenario.ctx());
    sb.fund(gift);
    assert!(event::events_by_type<events::SharedBlobFunded>() == vector[events::new_shared_blob_funded(object::id(&sb), 1_000_000_000, 1_000_000_000)]);
    sb.extend(&mut w.system, 3, w.scenario.ctx());
    assert!(sb.blob().end_epoch() == 6);
    let units = encoding::storage_units(sb.blob().storage().size());
    assert!(sb.funds() == 1_000_000_000 - STORAGE_PRICE * units * 3);
    ts::return_shared(sb);
    finish(w);
}

#[test, expected_failure(abort_code = shared_blob::ENotCertified)]
fun sharing_an_uncertified_blob_fails() {
    let mut w = setup();
    let b = register_vector_blob(&mut w, 2, false);
    shared_blob::new(b, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = system::EInsufficientPayment)]
fun extending_an_unfunded_shared_blob_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    let (mut w, mut sb) = share_and_switch(w, b, USER);
    sb.extend(&mut w.system, 1, w.scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = shared_blob::EZeroFunding)]
fun funding_with_nothing_fails() {
    let mut w = setup();
    let mut b = register_vector_blob(&mut w, 2, false);
    certify(&w, &mut b, v::permanent_quorum());
    let (mut w, mut sb) = share_and_switch(w, b, USER);
    sb.fund(coin::zero<SUI>(w.scenario.ctx()));
    abort 0
}
