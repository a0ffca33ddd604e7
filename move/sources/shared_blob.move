// Copyright (c) Haulout contributors
// SPDX-License-Identifier: Apache-2.0

/// A certified Blob wrapped in a shared object that anyone can fund and extend, so a public
/// dataset outlives its uploader's account (as Walrus's `shared_blob`).
module haulout::shared_blob;

use haulout::blob::Blob;
use haulout::events;
use haulout::system::System;
use sui::balance::{Self, Balance};
use sui::coin::Coin;
use sui::sui::SUI;

const ENotCertified: u64 = 1;
const EZeroFunding: u64 = 2;

/// The wrapper: the Blob and the funds that pay for its extensions.
public struct SharedBlob has key, store {
    id: UID,
    blob: Blob,
    funds: Balance<SUI>,
}

/// Share a certified `blob` with no funds yet.
public fun new(blob: Blob, ctx: &mut TxContext) {
    share(blob, balance::zero(), ctx)
}

/// Share a certified `blob` with `funds` already in it.
public fun new_funded(blob: Blob, funds: Coin<SUI>, ctx: &mut TxContext) {
    share(blob, funds.into_balance(), ctx)
}

fun share(blob: Blob, funds: Balance<SUI>, ctx: &mut TxContext) {
    assert!(blob.certified_epoch().is_some(), ENotCertified);
    let id = object::new(ctx);
    events::shared_blob_created(id.to_inner(), blob.blob_id(), object::id(&blob), funds.value());
    transfer::share_object(SharedBlob { id, blob, funds })
}

/// Anyone adds `added` to the funds.
public fun fund(self: &mut SharedBlob, added: Coin<SUI>) {
    assert!(added.value() > 0, EZeroFunding);
    let amount = added.value();
    self.funds.join(added.into_balance());
    events::shared_blob_funded(object::id(self), amount, self.funds.value());
}

/// Anyone extends the wrapped Blob by `extended_epochs`, paid from the funds (the Blob's
/// own checks apply: certified, not expired, within max_epochs_ahead, enough funds).
public fun extend(self: &mut SharedBlob, system: &mut System, extended_epochs: u32, ctx: &mut TxContext) {
    let mut coin = self.funds.withdraw_all().into_coin(ctx);
    haulout::blob::extend_blob(system, &mut self.blob, extended_epochs, &mut coin, ctx);
    self.funds.join(coin.into_balance());
}

/// The wrapped Blob.
public fun blob(self: &SharedBlob): &Blob { &self.blob }

/// The funds left for extensions.
public fun funds(self: &SharedBlob): u64 { self.funds.value() }
