/// Tests whose outcome rests on real BLS12-381 arithmetic. The WASM test runner stubs
/// `bls12381_min_pk_verify` (always true), so `haulout move test` runs these only with the
/// `sui` CLI and reports them as skipped otherwise.
#[test_only]
module haulout::crypto_tests;

use haulout::blob;
use haulout::committee;
use haulout::encoding;
use haulout::system::{Self, AdminCap, System};
use haulout::test_vectors as v;
use std::string;
use std::unit_test::destroy;
use sui::clock;
use sui::coin;
use sui::sui::SUI;
use sui::test_scenario as ts;

const ADMIN: address = @0xAD;

#[test, expected_failure(abort_code = committee::EInvalidSignature)]
fun claimed_signer_that_did_not_sign_fails() {
    let mut scenario = ts::begin(ADMIN);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<AdminCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    system::create_system(&cap, v::n_shards(), 1000, 1, 1, 1 << 40, 53, &clock, scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut system = scenario.take_shared<System>();
    let mut ids = vector[];
    let mut i = 0;
    while (i < 4) {
        ids.push_back(system.register_node(&cap, string::utf8(b"n"), string::utf8(b""), v::public_keys()[i], v::pops()[i], v::addresses()[i], scenario.ctx()));
        i = i + 1;
    };
    system.set_committee(&cap, ids, v::shards());
    system.force_advance_epoch(&cap, &clock);
    let mut c = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());
    let storage = system.reserve_space(encoding::encoded_length(10, 5, 0), 2, &mut c, scenario.ctx());
    let mut b = blob::register_blob(&mut system, storage, v::blob_id(), v::root(), 5, 0, false, &mut c, scenario.ctx());
    let c = v::permanent_quorum();
    let (sig, msg) = (c.signature(), c.message()); // signed by 0, 1, 2
    blob::certify_blob(&system, &mut b, sig, x"0b", msg); // claims 0, 1, 3
    destroy(b);
    destroy(c);
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidProofOfPossession)]
fun proof_of_possession_for_another_key_fails() {
    let mut scenario = ts::begin(ADMIN);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<AdminCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    system::create_system(&cap, v::n_shards(), 1000, 1, 1, 1 << 40, 53, &clock, scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut system = scenario.take_shared<System>();
    system.register_node(&cap, string::utf8(b"n"), string::utf8(b""), v::public_keys()[1], v::pops()[0], v::addresses()[1], scenario.ctx());
    abort 0
}

#[test, expected_failure(abort_code = system::EInvalidProofOfPossession)]
fun proof_of_possession_for_another_address_fails() {
    let mut scenario = ts::begin(ADMIN);
    system::init_for_testing(scenario.ctx());
    scenario.next_tx(ADMIN);
    let cap = scenario.take_from_sender<AdminCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    system::create_system(&cap, v::n_shards(), 1000, 1, 1, 1 << 40, 53, &clock, scenario.ctx());
    scenario.next_tx(ADMIN);
    let mut system = scenario.take_shared<System>();
    system.register_node(&cap, string::utf8(b"n"), string::utf8(b""), v::public_keys()[0], v::pops()[0], v::addresses()[1], scenario.ctx());
    abort 0
}
