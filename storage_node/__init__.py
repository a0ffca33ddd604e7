"""Storage node: keeps slivers and metadata, signs confirmations, follows chain events."""
