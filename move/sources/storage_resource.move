/// Reserved encoded bytes for epochs [start_epoch, end_epoch): split and fuse for reuse.
module haulout::storage_resource;

const EInvalidSplitEpoch: u64 = 1;
const EInvalidSplitSize: u64 = 2;
const EIncompatibleEpochs: u64 = 3;
const EIncompatibleSize: u64 = 4;

public struct Storage has key, store {
    id: UID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
}

public(package) fun create(start_epoch: u32, end_epoch: u32, storage_size: u64, ctx: &mut TxContext): Storage {
    Storage { id: object::new(ctx), start_epoch, end_epoch, storage_size }
}

public fun start_epoch(s: &Storage): u32 { s.start_epoch }

public fun end_epoch(s: &Storage): u32 { s.end_epoch }

public fun size(s: &Storage): u64 { s.storage_size }

public(package) fun extend_end_epoch(s: &mut Storage, epochs: u32) { s.end_epoch = s.end_epoch + epochs }

/// Split at `split_epoch`: `s` keeps [start, split), the result holds [split, end).
public fun split_by_epoch(s: &mut Storage, split_epoch: u32, ctx: &mut TxContext): Storage {
    assert!(s.start_epoch < split_epoch && split_epoch < s.end_epoch, EInvalidSplitEpoch);
    let later = Storage { id: object::new(ctx), start_epoch: split_epoch, end_epoch: s.end_epoch, storage_size: s.storage_size };
    s.end_epoch = split_epoch;
    later
}

/// Split off `split_size` bytes for the same epochs.
public fun split_by_size(s: &mut Storage, split_size: u64, ctx: &mut TxContext): Storage {
    assert!(0 < split_size && split_size < s.storage_size, EInvalidSplitSize);
    s.storage_size = s.storage_size - split_size;
    Storage { id: object::new(ctx), start_epoch: s.start_epoch, end_epoch: s.end_epoch, storage_size: split_size }
}

/// Fuse `second` into `first`: equal epochs add sizes; adjacent equal sizes join epochs.
public fun fuse(first: &mut Storage, second: Storage) {
    let Storage { id, start_epoch, end_epoch, storage_size } = second;
    id.delete();
    if (first.start_epoch == start_epoch && first.end_epoch == end_epoch) {
        first.storage_size = first.storage_size + storage_size;
    } else if (first.end_epoch == start_epoch || end_epoch == first.start_epoch) {
        assert!(first.storage_size == storage_size, EIncompatibleSize);
        if (start_epoch < first.start_epoch) { first.start_epoch = start_epoch };
        if (end_epoch > first.end_epoch) { first.end_epoch = end_epoch };
    } else {
        abort EIncompatibleEpochs
    }
}

public(package) fun destroy_for_burn(s: Storage) {
    let Storage { id, start_epoch: _, end_epoch: _, storage_size: _ } = s;
    id.delete();
}
