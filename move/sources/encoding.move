/// Encoding type 0 lengths and the blob id derivation, equal to the Python protocol's.
module haulout::encoding;

use sui::bcs;
use sui::hash;

const MAX_BLOCK_SIZE: u64 = 65536;

public fun max_faulty(n_shards: u16): u64 { ((n_shards as u64) - 1) / 3 }

public fun primary_count(n_shards: u16): u64 { (n_shards as u64) - 2 * max_faulty(n_shards) }

fun div_ceil(a: u64, b: u64): u64 { (a + b - 1) / b }

public fun block_size(n_shards: u16, size: u64): u64 {
    let unit = if (size == 0) { 1 } else { size };
    let b = div_ceil(unit, primary_count(n_shards));
    if (b < MAX_BLOCK_SIZE) { b } else { MAX_BLOCK_SIZE }
}

public fun sliver_len(n_shards: u16, size: u64): u64 {
    let unit = if (size == 0) { 1 } else { size };
    let block = block_size(n_shards, size);
    let stripes = div_ceil(unit, primary_count(n_shards) * block);
    stripes * block
}

/// `n * sliver_len + 32 n + 32`.
public fun encoded_length(n_shards: u16, size: u64): u64 {
    let n = n_shards as u64;
    n * sliver_len(n_shards, size) + 32 * n + 32
}

/// `blake2b256(bcs(encoding_type, size, root))` read as a little-endian u256.
public fun derive_blob_id(encoding_type: u8, size: u64, root_hash: u256): u256 {
    let mut bytes = bcs::to_bytes(&encoding_type);
    bytes.append(bcs::to_bytes(&size));
    bytes.append(bcs::to_bytes(&root_hash));
    bcs::new(hash::blake2b256(&bytes)).peel_u256()
}

/// Storage units (1 MiB, rounded up) of `bytes`.
public fun storage_units(bytes: u64): u64 { div_ceil(bytes, 1 << 20) }
