"""Settings, one class per service (pydantic-settings, env prefix `HAULOUT_…`).

Each is built in its service's entry point, never at import time.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DEPLOYMENT = ".haulout/deployment.json"


class NodeSettings(BaseSettings):
    """A storage node: which node of the deployment, where its data lives."""

    model_config = SettingsConfigDict(env_prefix="HAULOUT_NODE_")
    deployment: str = DEFAULT_DEPLOYMENT
    index: int = 0
    data_dir: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    poll_interval: float = 0.2
    confirmation_wait: float = 5.0
    recovery_interval: float = 2.0  # how often to look for certified blobs missing slivers here
    recovery_grace: float = 5.0  # how long a late upload may take before recovering instead
    recovery_grace_max: float = 120.0  # the grace under load (uploads arriving here)
    recovery_max_blob_size: int = 1 << 30  # as the relayer's max_blob_size; recovered via files
    recovery_backoff: float = (
        2.0  # first retry delay after a transient failure (doubles, 5 min max)
    )
    metadata_wait: float = 2.0  # how long a metadata upload waits for the registration
    max_waiters: int = 512  # requests waiting for registrations at once; over it 503
    direct_writes: bool = True  # large batches written past the page cache (O_DIRECT) if allowed
    log_level: str = "INFO"


class RelayerSettings(BaseSettings):
    """The relayer (publisher + aggregator)."""

    model_config = SettingsConfigDict(env_prefix="HAULOUT_RELAYER_")
    deployment: str = DEFAULT_DEPLOYMENT
    host: str = "127.0.0.1"
    port: int = 31415
    spool_dir: str = ".haulout/relayer"
    state_dir: str = ".haulout/relayer-state"  # what outlives a restart (consistency verdicts)
    max_blob_size: int = 1 << 30
    default_epochs: int = 1
    auth_token: str = ""
    node_timeout: float = 30.0
    node_retries: int = 3
    uploads_per_node: int = 4
    memory_limit: int = (
        32 << 20
    )  # blobs up to this size are encoded in memory, larger ones to files
    encode_memory: int = 128 << 20  # slivers all uploads may hold in memory at once (then files)
    read_cache_bytes: int = 256 << 20
    body_timeout: float = 30.0  # longest pause, in seconds, inside an upload's body (then 408)
    min_body_rate: float = 4096.0  # slowest upload body accepted, bytes/s (then 408)
    body_rate_window: float = 10.0  # seconds of waiting for the client the rate is judged over
    max_concurrent_uploads: int = 128  # uploads in flight at once; more get 503 + Retry-After
    max_encoding_uploads: int = 32  # of those, encoded at once (the others wait, <= 256 KiB each)
    max_tree_members: int = 1000  # blobs of one tree or bucket version (at most 1000: one PTB)
    poll_interval: float = 0.2
    log_level: str = "INFO"
    encoding_type: int | None = None  # new uploads' encoding; unset: the deployment file's
    # the upload relay (Walrus's): its tip and how old the client's registration may be
    upload_relay_tip: str = "no_tip"  # no_tip, const:<mist> or linear:<base>:<mist per KiB>
    upload_relay_tip_address: str = ""  # who receives tips; unset: the relayer's own address
    upload_relay_tx_freshness: float = 36_000.0  # seconds a registering transaction stays usable
    upload_relay_tx_max_future: float = 30.0  # seconds a transaction's time may be ahead (skew)
    # JWT upload rights, as Walrus's publisher --jwt-* (see relayer/auth.py)
    jwt_decode_secret: str = ""  # HMAC secret (0x… for hex) or EdDSA public key (0x + 64 hex)
    jwt_algorithm: str = "HS256"  # HS256, HS384, HS512 or EdDSA
    jwt_expiring_sec: int = 0  # > 0: tokens must have exp - iat equal to this
    jwt_verify_upload: bool = False  # check epochs, size and send_object_to claims
    jwt_enabled: bool = False  # JWT without a secret (signature checked upstream, as Walrus)
    jwt_replay_capacity: int = 100_000  # unexpired jti remembered at once (then 503)


class IndexerSettings(BaseSettings):
    """The indexer: database URL, batch size, API address."""

    model_config = SettingsConfigDict(env_prefix="HAULOUT_INDEXER_")
    deployment: str = DEFAULT_DEPLOYMENT
    database_url: str = "sqlite:///.haulout/indexer.sqlite"
    host: str = "127.0.0.1"
    port: int = 8700
    batch_size: int = 1000
    poll_interval: float = 0.3
    log_level: str = "INFO"
    relayers: str = ""  # comma-separated relayer URLs whose read counts the indexer collects
    download_relayer_url: str = ""  # the explorer's download links (default: first relayer)
    monitor_interval: float = 10.0  # seconds between node health and relayer polls
    node_timeout: float = 2.0  # a node not answering /v1/health within this is down
    # bucket paths: manifests read through the relayers above, apart from the event pipeline
    manifest_interval: float = 2.0  # seconds between rounds of reading new manifests
    manifest_timeout: float = 10.0  # longest one manifest fetch may take, in all
    manifest_max_bytes: int = 32 << 20  # a larger manifest is refused (its paths not listed)
    manifest_max_paths: int = 100_000  # a manifest with more entries is refused
    manifest_retry: float = 30.0  # first delay before a failed fetch is retried (doubles)
