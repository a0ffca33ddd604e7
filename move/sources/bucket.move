// Copyright (c) Haulout contributors
// SPDX-License-Identifier: Apache-2.0

/// Buckets: a named, owned namespace of files with history. A Bucket points at the
/// content-addressed tree manifest (a certified Blob) that lists its files, so the chain holds
/// one small object per bucket however many files it has. A commit replaces the pointer only
/// when the caller's base version is the current one (no lost update between concurrent
/// writers); every commit's manifest is in its `BucketCommitted` event, so any version can be
/// read back; tags name versions. Extending a bucket extends its manifest here and, in the
/// same programmable transaction, every blob the manifest references (`blob::extend_blob`).
module haulout::bucket;

use haulout::blob::Blob;
use haulout::events;
use haulout::system::System;
use std::string::String;
use sui::coin::Coin;
use sui::sui::SUI;
use sui::vec_map::{Self, VecMap};

const EInvalidName: u64 = 1;
const EStaleVersion: u64 = 2;
const EManifestNotLive: u64 = 3;
const EInvalidTag: u64 = 4;
const EUnknownVersion: u64 = 5;
const ETooManyTags: u64 = 6;
const EManifestMismatch: u64 = 7;

/// Bucket names: 3 to 40 bytes of `a-z`, `0-9` and `-`, starting and ending with a letter or
/// digit (haulout/protocol/buckets.py). A blob id is 43 characters, so no name is one.
const MIN_NAME_LENGTH: u64 = 3;
const MAX_NAME_LENGTH: u64 = 40;
/// Tags: 1 to 64 bytes of `A-Z a-z 0-9 . _ -`, not all digits (`@3` is always version 3).
const MAX_TAG_LENGTH: u64 = 64;
const MAX_TAGS: u64 = 64;

public struct Bucket has key, store {
    id: UID,
    name: String,
    /// 0 for a new bucket (no manifest yet), then 1, 2, … one per commit.
    version: u64,
    /// The current tree manifest's blob id (0 before the first commit).
    manifest_blob_id: u256,
    tags: VecMap<String, u64>,
}

/// A new, empty bucket (version 0) for the caller to keep.
public fun create(name: String, ctx: &mut TxContext): Bucket {
    assert!(valid_name(&name), EInvalidName);
    let id = object::new(ctx);
    events::bucket_created(id.to_inner(), name);
    Bucket { id, name, version: 0, manifest_blob_id: 0, tags: vec_map::empty() }
}

/// Point the bucket at `manifest`, a certified, live Blob holding the new tree, if
/// `base_version` is still the current version; the version goes up by one.
public fun commit(bucket: &mut Bucket, system: &System, manifest: &Blob, base_version: u64) {
    assert!(base_version == bucket.version, EStaleVersion);
    assert!(manifest.certified_epoch().is_some() && system.epoch() < manifest.end_epoch(), EManifestNotLive);
    bucket.version = bucket.version + 1;
    bucket.manifest_blob_id = manifest.blob_id();
    events::bucket_committed(object::id(bucket), bucket.version, base_version, manifest.blob_id(), object::id(manifest));
}

/// Name `version` (an existing one) `tag`; a tag that exists moves.
public fun tag(bucket: &mut Bucket, tag: String, version: u64) {
    assert!(valid_tag(&tag), EInvalidTag);
    assert!(version >= 1 && version <= bucket.version, EUnknownVersion);
    if (bucket.tags.contains(&tag)) {
        *bucket.tags.get_mut(&tag) = version;
    } else {
        assert!(bucket.tags.length() < MAX_TAGS, ETooManyTags);
        bucket.tags.insert(tag, version);
    };
    events::bucket_tagged(object::id(bucket), tag, version);
}

/// Extend the current manifest by `extended_epochs` (paid from `payment`). The same
/// transaction extends every blob the manifest references with `blob::extend_blob`, so the
/// whole tree lives as long as the bucket says.
public fun extend(bucket: &Bucket, system: &mut System, manifest: &mut Blob, extended_epochs: u32, payment: &mut Coin<SUI>, ctx: &mut TxContext) {
    assert!(manifest.blob_id() == bucket.manifest_blob_id && bucket.version > 0, EManifestMismatch);
    haulout::blob::extend_blob(system, manifest, extended_epochs, payment, ctx);
    events::bucket_extended(object::id(bucket), bucket.version, bucket.manifest_blob_id, manifest.end_epoch());
}

/// Delete the bucket object (its blobs are the owner's to delete or let expire).
public fun destroy(bucket: Bucket) {
    let Bucket { id, name: _, version, manifest_blob_id: _, tags: _ } = bucket;
    events::bucket_deleted(id.to_inner(), version);
    id.delete();
}

public fun name(b: &Bucket): String { b.name }

public fun version(b: &Bucket): u64 { b.version }

public fun manifest_blob_id(b: &Bucket): u256 { b.manifest_blob_id }

/// The version `tag` names, if any.
public fun tag_version(b: &Bucket, tag: &String): Option<u64> {
    if (b.tags.contains(tag)) option::some(*b.tags.get(tag)) else option::none()
}

public fun tag_count(b: &Bucket): u64 { b.tags.length() }

fun is_lower_alnum(c: u8): bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

fun valid_name(name: &String): bool {
    let bytes = name.as_bytes();
    let n = bytes.length();
    if (n < MIN_NAME_LENGTH || n > MAX_NAME_LENGTH) return false;
    if (!is_lower_alnum(bytes[0]) || !is_lower_alnum(bytes[n - 1])) return false;
    let mut i = 0;
    while (i < n) {
        let c = bytes[i];
        if (!is_lower_alnum(c) && c != 0x2d) return false;
        i = i + 1;
    };
    true
}

fun valid_tag(tag: &String): bool {
    let bytes = tag.as_bytes();
    let n = bytes.length();
    if (n == 0 || n > MAX_TAG_LENGTH) return false;
    let mut digits = true;
    let mut i = 0;
    while (i < n) {
        let c = bytes[i];
        let digit = c >= 0x30 && c <= 0x39;
        let letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
        if (!digit && !letter && c != 0x2e && c != 0x5f && c != 0x2d) return false;
        if (!digit) digits = false;
        i = i + 1;
    };
    !digits
}
