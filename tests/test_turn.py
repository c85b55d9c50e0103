"""TURN (docs/design.md, "TURN"): the hub's time-limited credentials against a real coturn, and the relay-only
transport policy from the hub's `[ice]` section to aiortc's configuration."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc import RTCIceTransportPolicy
from pydantic import SecretStr, ValidationError

from fleet.coturn import TurnServer
from hub.config import IceSection
from protocol.hub import IceServer
from session.media import MediaError, ice_configuration
from tests.remote import GpSocket, station_with_hub


def ice_for(turn: TurnServer, secret: str | None = None) -> IceSection:
    return IceSection(turn_urls=turn.urls, turn_secret=SecretStr(secret or turn.secret), turn_ttl_s=600)


async def allocate(turn: TurnServer, server: IceServer) -> tuple[str, int]:
    """A TURN allocation on `turn` with the credentials the hub gave: the relayed address."""
    transport, _ = await create_turn_endpoint(asyncio.DatagramProtocol, ("127.0.0.1", turn.port),
                                              server.username, server.credential, lifetime=60)
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


async def test_coturn_relays_for_the_hubs_credentials(coturn: TurnServer) -> None:
    (server,) = ice_for(coturn).servers_for("cab-nangis", time.time())
    assert server.username is not None and server.username.endswith(":cab-nangis")
    host, port = await allocate(coturn, server)
    assert host == "127.0.0.1" and port in coturn.relay_ports


@pytest.mark.parametrize("why", ["expired", "another secret"])
async def test_coturn_refuses_an_expired_or_forged_credential(coturn: TurnServer, why: str) -> None:
    if why == "expired":  # issued two TTLs ago: it expired one TTL ago
        (server,) = ice_for(coturn).servers_for("cab-nangis", time.time() - 1200)
    else:
        (server,) = ice_for(coturn, "not-the-secret-coturn-shares").servers_for("cab-nangis", time.time())
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(coturn, server)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


def test_relay_only_needs_a_turn_server() -> None:
    with pytest.raises(ValidationError, match="needs turn_urls"):
        IceSection(stun_urls=("stun:stun.example.org",), transport_policy="relay")
    relay = IceSection(turn_urls=("turn:turn.example.org",), turn_secret=SecretStr("s" * 16), transport_policy="relay")
    assert relay.policy == "relay" and IceSection().policy is None  # "all" is what the welcomes leave out


def test_relay_policy_reaches_aiortc() -> None:
    turn = {"urls": ["turn:turn.example.org"], "username": "u", "credential": "p"}
    assert ice_configuration([turn], "relay").iceTransportPolicy is RTCIceTransportPolicy.RELAY
    assert ice_configuration([turn]).iceTransportPolicy is RTCIceTransportPolicy.ALL
    with pytest.raises(MediaError, match="needs a TURN server"):
        ice_configuration([{"urls": "stun:stun.example.org"}], "relay")


async def test_the_hub_tells_gps_and_stations_to_relay(tmp_path: Path) -> None:
    ice = IceSection(turn_urls=("turn:turn.example.org:3478",), turn_secret=SecretStr("s" * 16),
                     transport_policy="relay")
    async with station_with_hub(tmp_path / "state", ice=ice) as remote, GpSocket(remote.hub) as gp:
        assert remote.station.calls is not None
        assert remote.station.calls.hub.ice_transport_policy == "relay"
        welcome = await gp.receive("welcome")
        assert welcome["ice_transport_policy"] == "relay" and welcome["ice_servers"][0]["username"].endswith(":demo")
    async with station_with_hub(tmp_path / "state-all") as remote, GpSocket(remote.hub) as gp:
        assert remote.station.calls is not None and remote.station.calls.hub.ice_transport_policy == "all"
        assert "ice_transport_policy" not in await gp.receive("welcome")  # what older consoles and stations know
