"""Relayer: publisher (upload → certified blob) and aggregator (blob id → bytes)."""
