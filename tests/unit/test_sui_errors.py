"""SuiChain's refusals that need no node: a bad URL, no node or faucet answering, an adapter
not yet deployed — each one clear typed line."""

from __future__ import annotations

import pytest

from haulout.chain.errors import ChainError, NotDeployed
from haulout.chain.sui import SuiChain, localnet_faucet
from haulout.launcher import free_port


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ChainError, match="not an http"):
        SuiChain("ftp://127.0.0.1:9000")


def test_no_node_and_no_faucet_answering_are_one_line_each() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    chain = SuiChain(url)
    try:
        with pytest.raises(ChainError, match="no Sui node answers") as err:
            chain.balance("0x" + "ab" * 32)
        assert "\n" not in str(err.value)
    finally:
        chain.close()
    with pytest.raises(ChainError, match="did not answer"):
        localnet_faucet("0x" + "ab" * 32, url)


def test_an_undeployed_chain_says_to_deploy() -> None:
    chain = SuiChain(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NotDeployed, match="haulout deploy"):
        _ = chain.system_id
    with pytest.raises(NotDeployed, match="not published"):
        _ = chain.backend.admin_cap_id
    chain.close()
