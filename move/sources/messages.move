/// Signed messages: `intent ‖ version ‖ app_id ‖ epoch u32 LE ‖ body` (DESIGN §5).
module haulout::messages;

use sui::bcs;

const APP_ID: u8 = 0x48;
const INTENT_VERSION: u8 = 0;
const INTENT_PROOF_OF_POSSESSION: u8 = 0;
const INTENT_BLOB_CERTIFICATION: u8 = 1;
const INTENT_INVALID_BLOB_ID: u8 = 2;

const EIncorrectAppId: u64 = 1;
const EIncorrectIntentVersion: u64 = 2;
const EIncorrectIntentType: u64 = 3;
const EInvalidMessageLength: u64 = 4;
const EInvalidPersistence: u64 = 5;

/// A parsed blob certification message.
public struct CertifiedBlobMessage has copy, drop {
    epoch: u32,
    blob_id: u256,
    object_id: Option<ID>,
}

/// Check the header against `intent`; returns (epoch, body).
public fun parse_header(message: &vector<u8>, intent: u8): (u32, vector<u8>) {
    assert!(message.length() >= 7, EInvalidMessageLength);
    assert!(message[2] == APP_ID, EIncorrectAppId);
    assert!(message[1] == INTENT_VERSION, EIncorrectIntentVersion);
    assert!(message[0] == intent, EIncorrectIntentType);
    let mut reader = bcs::new(slice(message, 3, 7));
    let epoch = reader.peel_u32();
    (epoch, slice(message, 7, message.length()))
}

public fun parse_certified_blob(message: &vector<u8>): CertifiedBlobMessage {
    let (epoch, body) = parse_header(message, INTENT_BLOB_CERTIFICATION);
    assert!(body.length() >= 33, EInvalidMessageLength);
    let persistence = body[32];
    assert!(persistence == 0 || persistence == 1, EInvalidPersistence);
    let expected = if (persistence == 0) { 33 } else { 65 };
    assert!(body.length() == expected, EInvalidMessageLength);
    let blob_id = bcs::new(slice(&body, 0, 32)).peel_u256();
    let object_id = if (persistence == 1) {
        option::some(object::id_from_bytes(slice(&body, 33, 65)))
    } else { option::none() };
    CertifiedBlobMessage { epoch, blob_id, object_id }
}

/// (epoch, blob id) of an invalid-blob-id message.
public fun parse_invalid_blob(message: &vector<u8>): (u32, u256) {
    let (epoch, body) = parse_header(message, INTENT_INVALID_BLOB_ID);
    assert!(body.length() == 32, EInvalidMessageLength);
    (epoch, bcs::new(body).peel_u256())
}

/// The proof-of-possession message for `public_key` bound to `node_address`.
public fun proof_of_possession(epoch: u32, public_key: vector<u8>, node_address: address): vector<u8> {
    let mut msg = vector[INTENT_PROOF_OF_POSSESSION, INTENT_VERSION, APP_ID];
    msg.append(bcs::to_bytes(&epoch));
    msg.append(public_key);
    msg.append(bcs::to_bytes(&node_address));
    msg
}

public fun epoch(m: &CertifiedBlobMessage): u32 { m.epoch }

public fun blob_id(m: &CertifiedBlobMessage): u256 { m.blob_id }

public fun object_id(m: &CertifiedBlobMessage): Option<ID> { m.object_id }

fun slice(v: &vector<u8>, from: u64, to: u64): vector<u8> {
    let mut out = vector[];
    let mut i = from;
    while (i < to) {
        out.push_back(v[i]);
        i = i + 1;
    };
    out
}
