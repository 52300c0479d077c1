"""The gateway's Redis clients never send a command twice: a connection that breaks before the reply comes raises,
so a write that is not safe to repeat (the fenced commit's script trims a list by a count) runs at most once. Against
a loopback server that takes each command and then drops the connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis

from gateway.redis_client import connect, release


@pytest.fixture
def dropping_server() -> Iterator[tuple[str, list[bytes]]]:
    """A server that reads what one connection sends, then closes it without answering; returns its URL and what
    each connection sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", received
    listener.close()
    thread.join(5)


def test_a_command_whose_connection_breaks_is_not_sent_again(dropping_server: tuple[str, list[bytes]]) -> None:
    url, received = dropping_server
    client = connect(url, socket_timeout=5)

    with pytest.raises(redis.ConnectionError):
        client.ping()

    assert len(received) == 1, f"the client tried {len(received)} times"


def test_a_lock_is_given_up_by_its_holder_and_never_taken_from_another(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        client.set("test:redis-client:lock", "mine")
        assert release(client, "test:redis-client:lock", "mine")
        assert not client.exists("test:redis-client:lock")
        client.set("test:redis-client:lock", "theirs")  # the lock lapsed and another holder took it
        assert not release(client, "test:redis-client:lock", "mine")
        assert client.get("test:redis-client:lock") == b"theirs"
    finally:
        client.delete("test:redis-client:lock")
        client.close()
