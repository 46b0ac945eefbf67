"""The real Redis server the team-mode tests use (tests/support/redis_server.py): a client talks to it, it listens on
loopback only and keeps nothing on disk, each test starts from an empty one, and `restart()` brings it back on the
same port, empty, while a client that knew the old one reconnects."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    redis_server_fixture,
    redis_url_fixture,
)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, socket_timeout=10)
    yield connection
    connection.close()


def test_a_client_talks_to_it_and_it_keeps_nothing_on_disk(client: redis.Redis, redis_server: RedisServer) -> None:
    assert client.ping() is True
    client.set("spend:ana", "1.5")
    assert client.incrbyfloat("spend:ana", 2.25) == 3.75
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.config_get("save") == {"save": ""} and client.config_get("appendonly") == {"appendonly": "no"}
    assert client.config_get("port") == {"port": str(redis_server.port)}
    assert os.listdir(redis_server.root) == ["redis.log"]


def test_each_test_starts_from_an_empty_server(client: redis.Redis, redis_server: RedisServer) -> None:
    client.set("left-behind", "1")
    assert redis_server.command("FLUSHALL") == b"+OK"  # what the redis_url fixture does before each test
    assert client.dbsize() == 0


def test_restart_comes_back_empty_on_the_same_port_and_a_client_reconnects(
    client: redis.Redis, redis_server: RedisServer
) -> None:
    client.set("cooldown:deepseek", "until-later")
    old_pid = redis_server.pid
    redis_server.restart()
    assert redis_server.pid not in (None, old_pid)
    assert client.get("cooldown:deepseek") is None  # the same client object: it reconnected to the new server
    client.set("after", "1")
    assert client.get("after") == b"1"


def test_stop_ends_the_process_by_pid_and_clients_are_refused(client: redis.Redis, redis_server: RedisServer) -> None:
    pid = redis_server.pid
    assert pid is not None
    redis_server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.start()  # the next test's redis_url would start it too
    assert client.ping() is True
