"""The pure core of Haulout: encoding, blob ids, metadata, signed messages, certificates.

Nothing in this package does I/O; services and adapters build on it.
"""
