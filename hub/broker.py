"""The fleet's broker: Redis publish/subscribe between hub instances (docs/design.md, "A fleet of hubs").

Two kinds of channel: `cabin-hub:all`, which every instance hears (each instance's heartbeat with its
stations and GPs, and their changes as they happen), and `cabin-hub:to:<instance>`, one instance's own
(signalling for a GP or a station it holds). A message is a JSON object naming its sender (`from`).

Publishing never blocks the relay: messages wait in a bounded queue that one task sends in order, in
batches (one round trip for all that queued meanwhile). Redis delivers publish/subscribe messages at most
once: a message lost while the link to Redis was down is made good by the sender's next heartbeat, which
carries its whole state; signalling lost then is recovered as after any network drop (the console asks
again). While Redis is unreachable both loops retry with growing delays, saying so once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

PREFIX = "cabin-hub"
EVERYONE = f"{PREFIX}:all"
QUEUE_SIZE = 20_000  # messages waiting for Redis; past it they are dropped (and said so)
BATCH = 200
STALE_S = 5.0  # a message that waited this long for Redis is dropped, not sent late

Payload = dict[str, Any]


class BrokerUnreachable(StationError):
    """The broker could not be reached when the hub started."""


def own_channel(instance: str) -> str:
    """The channel only `instance` listens to."""
    return f"{PREFIX}:to:{instance}"


class Broker:
    """This instance's link to the fleet's Redis: `broadcast()` to every instance, `send()` to one, and each
    message heard handed to `on_message` (the broadcasts this instance made itself are not)."""

    def __init__(self, url: str, instance: str, on_message: Callable[[Payload], None]) -> None:
        self.instance = instance
        self._url = url
        self._on_message = on_message
        self._outgoing: asyncio.Queue[tuple[float, str, str]] = asyncio.Queue(QUEUE_SIZE)
        self._client: redis.Redis | None = None
        self._tasks = TaskSet("broker", log)
        self._dropping = False

    async def start(self) -> None:
        """Connect to Redis and subscribe; a broker that cannot be reached fails the hub's start, saying where."""
        client = redis.Redis.from_url(self._url, socket_connect_timeout=5, health_check_interval=10)
        try:
            await client.ping()  # type: ignore[misc]  # typed for the synchronous client too
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise BrokerUnreachable(f"the fleet's broker at {self._url} does not answer: {exc}") from exc
        self._client = client
        subscribed = asyncio.Event()
        self._tasks.spawn(self._listen(client, subscribed), "broker-listen")
        self._tasks.spawn(self._publish(client), "broker-publish")
        await subscribed.wait()

    async def stop(self, farewell: Payload | None = None) -> None:
        """Stop both loops, say `farewell` to every instance (what was still queued is dropped), and close the
        connections; idempotent."""
        await self._tasks.cancel_all(2.0)
        client, self._client = self._client, None
        if client is None:
            return
        if farewell is not None:
            try:
                await client.publish(EVERYONE, self._text(farewell))
            except (RedisError, OSError) as exc:
                log.warning("the fleet's broker: this instance's goodbye was not published: %s", exc)
        await client.aclose()

    def broadcast(self, payload: Payload) -> None:
        """Queue `payload` for every instance."""
        self._queue(EVERYONE, payload)

    def send(self, instance: str, payload: Payload) -> None:
        """Queue `payload` for one instance."""
        self._queue(own_channel(instance), payload)

    def _text(self, payload: Payload) -> str:
        return json.dumps({"from": self.instance, **payload}, separators=(",", ":"))

    def _queue(self, channel: str, payload: Payload) -> None:
        try:
            self._outgoing.put_nowait((time.monotonic(), channel, self._text(payload)))
            self._dropping = False
        except asyncio.QueueFull:
            if not self._dropping:
                log.warning("the fleet's broker is not keeping up: messages to other instances are dropped")
            self._dropping = True

    async def _publish(self, client: redis.Redis) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            batch = [await self._outgoing.get()]
            while len(batch) < BATCH and not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            while batch := _fresh(batch):
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for _, channel, text in batch:
                            pipe.publish(channel, text)
                        await pipe.execute()
                    backoff.reset()
                    break
                except (RedisError, OSError) as exc:
                    delay = backoff.next()
                    log.warning("the fleet's broker: %d messages not published (%s); again in %.1f s",
                                len(batch), exc, delay)
                    await asyncio.sleep(delay)

    async def _listen(self, client: redis.Redis, subscribed: asyncio.Event) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EVERYONE, own_channel(self.instance))
                subscribed.set()
                backoff.reset()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._heard(message["data"])
            except (RedisError, OSError) as exc:
                delay = backoff.next()
                log.warning("the fleet's broker: subscription lost (%s); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    def _heard(self, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            log.warning("the fleet's broker: a message that is not JSON was ignored")
            return
        if not isinstance(payload, dict) or payload.get("from") == self.instance:
            return
        try:
            self._on_message(payload)
        except Exception:  # a bug in one message's handling must not end the subscription
            log.exception("the fleet's broker: a message from %s could not be handled", payload.get("from"))


def _fresh(batch: list[tuple[float, str, str]]) -> list[tuple[float, str, str]]:
    """The messages of `batch` queued less than STALE_S ago: signalling older than that (Redis was away) would
    only confuse, and the next heartbeat says all the rest; none is sent late."""
    fresh = [item for item in batch if item[0] >= time.monotonic() - STALE_S]
    if len(fresh) < len(batch):
        log.warning("the fleet's broker: %d messages older than %.0f s dropped", len(batch) - len(fresh), STALE_S)
    return fresh
