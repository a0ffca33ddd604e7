/// The bucket module's events and name rules (the abort paths are in the generated
/// bucket_scenario_tests.move, shared with DevChain).
#[test_only]
module haulout::bucket_tests;

use haulout::blob::{Self, Blob};
use haulout::bucket;
use haulout::encoding;
use haulout::events;
use haulout::system::{Self, AdminCap, System};
use haulout::test_vectors as v;
use std::string;
use std::unit_test::destroy;
use sui::clock;
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

fun setup(): (Scenario, AdminCap, System, Coin<SUI>, Blob) {
    let mut scenario = ts::begin(@0xAD);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(@0xAD);
    let cap = scenario.take_from_sender<AdminCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    system::create_system(&cap, v::n_shards(), 1000, 1000, 2000, 1 << 40, 53, &clock, scenario.ctx());
    scenario.next_tx(@0xAD);
    let mut system = scenario.take_shared<System>();
    let mut ids = vector[];
    let mut i = 0;
    while (i < 4) {
        ids.push_back(system.register_node(&cap, string::utf8(b"node"), string::utf8(b"http://127.0.0.1"), v::public_keys()[i], v::pops()[i], v::addresses()[i], scenario.ctx()));
        i = i + 1;
    };
    system.set_committee(&cap, ids, v::shards());
    system.force_advance_epoch(&cap, &clock);
    clock.destroy_for_testing();
    let mut coin = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());
    let size = encoding::encoded_length(v::n_shards(), v::size(), 0);
    let storage = system.reserve_space(size, 3, &mut coin, scenario.ctx());
    let mut b = blob::register_blob(&mut system, storage, v::blob_id(), v::root(), v::size(), 0, false, &mut coin, scenario.ctx());
    let c = v::permanent_exact();
    blob::certify_blob(&system, &mut b, c.signature(), c.signers(), c.message());
    (scenario, cap, system, coin, b)
}

#[test]
fun commit_and_extend_emit_the_new_version_and_end_epoch() {
    let (mut scenario, cap, mut system, mut coin, mut b) = setup();
    let mut k = bucket::create(string::utf8(b"ckpt-2024-01"), scenario.ctx());
    k.commit(&system, &b, 0);
    let committed = event::events_by_type<events::BucketCommitted>();
    assert!(committed == vector[events::new_bucket_committed(object::id(&k), 1, 0, v::blob_id(), object::id(&b))]);
    k.extend(&mut system, &mut b, 4, &mut coin, scenario.ctx());
    assert!(b.end_epoch() == 8);
    let extended = event::events_by_type<events::BucketExtended>();
    assert!(extended == vector[events::new_bucket_extended(object::id(&k), 1, v::blob_id(), 8)]);
    assert!(k.name() == string::utf8(b"ckpt-2024-01") && k.tag_count() == 0);
    assert!(k.tag_version(&string::utf8(b"missing")).is_none());
    k.destroy();
    destroy(b);
    ts::return_shared(system);
    destroy(cap);
    destroy(coin);
    scenario.end();
}

#[test]
fun names_of_digits_and_inner_hyphens_are_valid() {
    let mut scenario = ts::begin(@0xAD);
    let a = bucket::create(string::utf8(b"000"), scenario.ctx());
    let b = bucket::create(string::utf8(b"a-b-c"), scenario.ctx());
    assert!(a.version() == 0 && b.version() == 0);
    a.destroy();
    b.destroy();
    scenario.end();
}

#[test, expected_failure(abort_code = bucket::EInvalidName)]
fun a_name_with_a_dot_fails() {
    let mut scenario = ts::begin(@0xAD);
    let _k = bucket::create(string::utf8(b"my.data"), scenario.ctx());
    abort 0
}
