"""Haulout: decentralized blob storage on Sui, in Python."""

__version__ = "0.1.0"
