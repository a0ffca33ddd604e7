/// Encoding lengths per encoding type and the blob id derivation, equal to the Python
/// protocol's (haulout/protocol/params.py).
module haulout::encoding;

use sui::bcs;
use sui::hash;

const MAX_BLOCK_SIZE: u64 = 65536;
/// Encoding type 0: Reed–Solomon over GF(2^8) (zfec).
const ENCODING_RS: u8 = 0;
/// Encoding type 1: systematic Reed–Solomon over GF(2^16); blocks are even.
const ENCODING_RS16: u8 = 1;
/// GF(2^8) has room for 256 shards.
const MAX_SHARDS_RS: u16 = 256;
/// Encoding type 1's limit, and so the largest committee a System may have.
const MAX_SHARDS_RS16: u16 = 4096;

/// Largest shard count `encoding_type` supports; 0 for an unknown type.
public fun max_shards(encoding_type: u8): u16 {
    if (encoding_type == ENCODING_RS) { MAX_SHARDS_RS }
    else if (encoding_type == ENCODING_RS16) { MAX_SHARDS_RS16 }
    else { 0 }
}

/// The largest shard count any encoding type supports: the bound on a System's `n_shards`.
public fun max_system_shards(): u16 { MAX_SHARDS_RS16 }

/// True when blobs of `encoding_type` can be encoded over `n_shards` shards.
public fun supports(encoding_type: u8, n_shards: u16): bool {
    n_shards >= 1 && n_shards <= max_shards(encoding_type)
}

public fun max_faulty(n_shards: u16): u64 { ((n_shards as u64) - 1) / 3 }

public fun primary_count(n_shards: u16): u64 { (n_shards as u64) - 2 * max_faulty(n_shards) }

fun div_ceil(a: u64, b: u64): u64 { (a + b - 1) / b }

/// `B = min(65536, ceil(max(size, 1) / k))`, rounded up to even for encoding type 1.
/// Callers check `supports` first; any other type gets type 0's rule.
public fun block_size(n_shards: u16, size: u64, encoding_type: u8): u64 {
    let unit = if (size == 0) { 1 } else { size };
    let b = div_ceil(unit, primary_count(n_shards));
    let b = if (b < MAX_BLOCK_SIZE) { b } else { MAX_BLOCK_SIZE };
    if (encoding_type == ENCODING_RS16) { b + (b & 1) } else { b }
}

/// One block per stripe of `k * B` bytes.
public fun sliver_len(n_shards: u16, size: u64, encoding_type: u8): u64 {
    let unit = if (size == 0) { 1 } else { size };
    let block = block_size(n_shards, size, encoding_type);
    let stripes = div_ceil(unit, primary_count(n_shards) * block);
    stripes * block
}

/// `n * sliver_len + 32 n + 32`.
public fun encoded_length(n_shards: u16, size: u64, encoding_type: u8): u64 {
    let n = n_shards as u64;
    n * sliver_len(n_shards, size, encoding_type) + 32 * n + 32
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
