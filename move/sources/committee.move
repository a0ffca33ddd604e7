/// The committee: members in a fixed order with their BLS keys and shards; checks
/// certificates (signer bitmap, weight, aggregate BLS signature).
module haulout::committee;

use sui::bls12381;
use sui::group_ops;

const ENotEnoughWeight: u64 = 1;
const EInvalidBitmap: u64 = 2;
const EInvalidSignature: u64 = 3;
const EWrongEpoch: u64 = 4;

public struct Member has copy, drop, store {
    node_id: ID,
    public_key: vector<u8>,
    shards: vector<u16>,
}

public struct Committee has copy, drop, store {
    members: vector<Member>,
    n_shards: u16,
}

public(package) fun new_member(node_id: ID, public_key: vector<u8>, shards: vector<u16>): Member {
    Member { node_id, public_key, shards }
}

public(package) fun new(members: vector<Member>, n_shards: u16): Committee { Committee { members, n_shards } }

public(package) fun empty(n_shards: u16): Committee { Committee { members: vector[], n_shards } }

public fun size(c: &Committee): u64 { c.members.length() }

public fun n_shards(c: &Committee): u16 { c.n_shards }

public fun node_ids(c: &Committee): vector<ID> {
    let mut out = vector[];
    let mut i = 0;
    while (i < c.members.length()) {
        out.push_back(c.members[i].node_id);
        i = i + 1;
    };
    out
}

public fun weight_of(c: &Committee, position: u64): u64 { c.members[position].shards.length() }

/// Abort with EWrongEpoch unless `message_epoch == current`.
public fun check_epoch(message_epoch: u32, current: u32) { assert!(message_epoch == current, EWrongEpoch) }

/// Bitmap positions (bit i of byte j is member 8j + i).
public fun signers(c: &Committee, bitmap: &vector<u8>): vector<u64> {
    let n = c.members.length();
    assert!(bitmap.length() == (n + 7) / 8, EInvalidBitmap);
    let mut out = vector[];
    let mut j = 0;
    while (j < bitmap.length()) {
        let byte = bitmap[j];
        let mut i = 0u8;
        while (i < 8) {
            if ((byte >> i) & 1 == 1) {
                let pos = j * 8 + (i as u64);
                assert!(pos < n, EInvalidBitmap);
                out.push_back(pos);
            };
            i = i + 1;
        };
        j = j + 1;
    };
    out
}

/// Verify a certificate: `quorum` means 3w >= 2n+1, otherwise 3w >= n+1 (f+1).
public fun verify(c: &Committee, signature: &vector<u8>, bitmap: &vector<u8>, message: &vector<u8>, quorum: bool) {
    assert!(c.members.length() > 0, ENotEnoughWeight);
    let positions = signers(c, bitmap);
    let mut weight = 0;
    let mut i = 0;
    while (i < positions.length()) {
        weight = weight + weight_of(c, positions[i]);
        i = i + 1;
    };
    let n = c.n_shards as u64;
    let enough = if (quorum) { 3 * weight >= 2 * n + 1 } else { 3 * weight >= n + 1 };
    assert!(enough, ENotEnoughWeight);
    let mut aggregate = bls12381::g1_identity();
    let mut k = 0;
    while (k < positions.length()) {
        let key = bls12381::g1_from_bytes(&c.members[positions[k]].public_key);
        aggregate = bls12381::g1_add(&aggregate, &key);
        k = k + 1;
    };
    let key_bytes = *group_ops::bytes(&aggregate);
    assert!(bls12381::bls12381_min_pk_verify(signature, &key_bytes, message), EInvalidSignature);
}

public fun member_node(c: &Committee, position: u64): ID { c.members[position].node_id }

public fun member_shards(c: &Committee, position: u64): vector<u16> { c.members[position].shards }

/// The position of `node_id` in the committee, or `size()` when it is not a member.
public fun position_of(c: &Committee, node_id: ID): u64 {
    let mut i = 0;
    while (i < c.members.length()) {
        if (c.members[i].node_id == node_id) return i;
        i = i + 1;
    };
    c.members.length()
}
