"""A fleet of hub instances sharing PostgreSQL and a Redis broker (docs/design.md, "A fleet of hubs"): a GP on
one instance sees and joins a station on another, signalling crosses, and an instance that leaves takes
nobody's place in the waiting room."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from fleet.postgres import PostgresServer
from fleet.redis import RedisServer
from hub.config import FleetSection, HubConfig, StoreSection
from hub.server import Hub
from tests.test_hub import (
    CHELLES_TOKEN,
    NANGIS_TOKEN,
    closed,
    gp_socket,
    hub_config,
    offer,
    receive,
    room_of,
    station_socket,
    waiting,
)

JOIN = json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"})


def fleet_config(database: str, broker: str, instance: str) -> HubConfig:
    return hub_config(store=StoreSection(url=database), fleet=FleetSection(broker_url=broker, instance=instance,
                                                                           heartbeat_s=0.2, dead_after_s=30.0))


@pytest.fixture
async def two_hubs(postgres: PostgresServer, redis: RedisServer) -> AsyncIterator[tuple[Hub, Hub]]:
    database = postgres.new_database().render_as_string(hide_password=False)
    a = Hub(fleet_config(database, redis.url, "hub-a"))
    b = Hub(fleet_config(database, redis.url, "hub-b"))
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


@asynccontextmanager
async def claire_sees_the_station(
        http: aiohttp.ClientSession, gp_on: Hub,
        station_on: Hub) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse]]:
    """cab-nangis waiting on `station_on`, Dr Claire logged in on `gp_on` with it in her waiting room: the
    station's and her sockets (hers closed on the way out)."""
    station = await station_socket(http, station_on, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    claire_http, claire = await gp_socket(gp_on, "claire")
    async with claire_http:
        assert [p["station"] for p in await room_of(claire, 1)] == ["cab-nangis"]
        yield station, claire


async def test_a_gp_on_one_instance_joins_a_station_on_another_and_signalling_crosses(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    async with claire_sees_the_station(http, *two_hubs) as (station, claire):
        await claire.send_str(JOIN)
        join = await receive(station, "gp_join")
        assert join["session"] == "s-1" and join["identity"]["name"] == "Dr Claire Martin"
        assert await room_of(claire, 0) == []  # taken, as seen from the other instance too
        await station.send_str(offer(gp=join["gp"]))
        assert (await receive(claire, "signal"))["description"]["type"] == "offer"
        await claire.send_str(json.dumps({"v": 1, "type": "signal", "station": "cab-nangis", "leg": "face",
                                          "description": {"type": "answer", "sdp": "v=0\r\n"}}))
        back = await receive(station, "signal")
        assert back["gp"] == join["gp"] and back["description"]["type"] == "answer"
        await claire.send_str(JOIN)  # a refusal from the station's instance comes back to her
        assert (await receive(claire, "error"))["code"] == "already_joined"
        await claire.send_str(json.dumps({"v": 1, "type": "leave", "station": "cab-nangis"}))
        assert (await receive(station, "gp_left"))["gp"] == join["gp"]


async def test_each_instance_says_what_it_holds_to_the_proxys_health_check(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    a, b = two_hubs
    station = await station_socket(http, b, NANGIS_TOKEN)
    for hub, held in ((a, 0), (b, 1)):
        async with http.get(f"{hub.url}/api/health") as response:
            assert response.status == 200
            assert await response.json() == {"ok": True, "instance": hub.config.fleet.instance, "stations": held,
                                             "gps": 0}
    await station.close()


async def test_a_gp_leaving_her_instance_releases_the_station_on_another(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    async with claire_sees_the_station(http, *two_hubs) as (station, claire):
        await claire.send_str(JOIN)
        first = (await receive(station, "gp_join"))["gp"]
        await claire.close()
    assert (await receive(station, "gp_left"))["gp"] == first


async def test_a_station_leaving_its_instance_tells_the_gp_on_another(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    async with claire_sees_the_station(http, *two_hubs) as (station, claire):
        await claire.send_str(JOIN)
        await receive(station, "gp_join")
        await station.close()
        assert (await receive(claire, "station_offline"))["station"] == "cab-nangis"


async def test_a_station_reconnecting_to_the_other_instance_is_resumed_by_its_gp(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    """Its instance stops: the station dials again and lands on the other one; its GP, on a third connection
    to that same other instance, hears it went offline, asks again and resumes the consultation."""
    a, b = two_hubs
    async with claire_sees_the_station(http, a, b) as (station, claire):
        await claire.send_str(JOIN)
        await receive(station, "gp_join")
        await b.stop()
        assert (await receive(claire, "station_offline"))["station"] == "cab-nangis"
        again = await station_socket(http, a, NANGIS_TOKEN)
        await again.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "reconnecting",
                                         "session": "s-1", "doctor": "10000000001"}))
        await claire.send_str(JOIN)
        assert (await receive(again, "gp_join"))["session"] == "s-1"


async def test_the_waiting_room_lists_stations_of_every_instance_and_forgets_a_stopped_one(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    a, b = two_hubs
    on_a = await station_socket(http, a, NANGIS_TOKEN)
    await on_a.send_str(waiting("s-1"))
    on_b = await station_socket(http, b, CHELLES_TOKEN)
    await on_b.send_str(waiting("s-2", "Chelles"))
    dana_http, dana = await gp_socket(a, "dana")
    async with dana_http:
        assert sorted(p["station"] for p in await room_of(dana, 2)) == ["cab-chelles", "cab-nangis"]
        await b.stop()  # it says goodbye: its stations leave the room at once, not after dead_after_s
        assert [p["station"] for p in await room_of(dana, 1)] == ["cab-nangis"]


async def test_a_second_connection_with_a_stations_token_is_refused_on_another_live_instance(
        two_hubs: tuple[Hub, Hub], http: aiohttp.ClientSession) -> None:
    """A stolen token does not push the real station off through another instance."""
    a, b = two_hubs
    async with claire_sees_the_station(http, a, b) as (station, claire):  # instance A has heard of it on B
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(a.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"})
        assert refused.value.status == 409
        await station.send_str(offer(gp="gp-nobody"))  # the real station's connection is still open
        assert (await receive(station, "error"))["code"] == "not_joined"


async def test_a_disabled_station_is_disconnected_at_once(two_hubs: tuple[Hub, Hub],
                                                          http: aiohttp.ClientSession) -> None:
    a, _ = two_hubs
    station = await station_socket(http, a, NANGIS_TOKEN)
    await a.accounts.set_enabled("station", "cab-nangis", False, by="tests")
    closed_message = await closed(station)
    assert closed_message.type is aiohttp.WSMsgType.CLOSE
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(a.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"})
    assert refused.value.status == 401
