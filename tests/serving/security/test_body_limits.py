"""Body limits and authentication before the body, against ``dealer-risk serve`` itself.

The attack: 250 MB bodies posted without a token were read whole before a 422, and four at
once took the server to 3.5 GB. Now a body over the limit is refused with 413 before it is
read past the limit (by its Content-Length, or as it streams when it has none), the API
answers an anonymous caller 401 before reading anything, and the server's memory stays
where it was.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.guard import MAX_BODY_BYTES
from tests.serving.conftest import ServedHome, Server, start_server, stop_server

#: What a client tries to send: far past the limit, a fraction of the attack's 250 MB.
ATTEMPT_BYTES = 32 * 1024 * 1024
DECLARED_BYTES = 250_000_000
_CHUNK = b"x" * 65536


@pytest.fixture(scope="module")
def server(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    started = start_server(served_home.env(), tmp_path_factory.mktemp("limits") / "serve.log")
    yield started
    stop_server(started)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _post_raw(server: Server, path: str, headers: dict[str, str], *, chunked: bool
              ) -> tuple[int, str, int]:
    """POST a huge body as a hostile client would: (status, response head, bytes sent)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    framing = ({"Transfer-Encoding": "chunked"} if chunked
               else {"Content-Length": str(DECLARED_BYTES)})
    head = "".join(f"{name}: {value}\r\n" for name, value in
                   {"Host": "127.0.0.1", "Content-Type": "application/json", **headers,
                    **framing}.items())
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
        try:
            while sent < ATTEMPT_BYTES:
                if select.select([connection], [], [], 0)[0]:
                    break  # the server has answered
                piece = (b"10000\r\n" + _CHUNK + b"\r\n") if chunked else _CHUNK
                connection.sendall(piece)
                sent += len(_CHUNK)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                part = connection.recv(65536)
                if not part:
                    break
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
    text = answer.decode("latin-1")
    assert text.startswith("HTTP/1.1 "), f"no answer to {path}: {text!r}"
    return int(text.split()[1]), text.split("\r\n\r\n")[0].lower(), sent


def test_an_anonymous_huge_post_is_401_before_its_body(server: Server) -> None:
    for path in ("/api/v1/users", "/api/v1/score"):
        for chunked in (False, True):
            status, head, sent = _post_raw(server, path, {}, chunked=chunked)
            assert status == 401, (path, chunked, head)
            assert sent < ATTEMPT_BYTES  # answered long before the client was done


def test_an_anonymous_malformed_body_is_401_not_422(server: Server) -> None:
    for path in ("/api/v1/users", "/api/v1/score"):
        answer = httpx.post(server.base_url + path, content=b'{"not json',
                            headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_huge_body_is_413_before_it_is_read(server: Server, served_home: ServedHome) -> None:
    admin = served_home.headers("admin")
    for path, headers in (("/api/v1/users", admin), ("/api/v1/score", admin), ("/login", {})):
        for chunked in (False, True):
            status, head, sent = _post_raw(server, path, headers, chunked=chunked)
            assert status == 413, (path, chunked, head)
            assert "connection: close" in head
            assert sent < ATTEMPT_BYTES
    # Just under the limit is an ordinary (here invalid) request, not a 413.
    body = b'{"license_number": "' + b"x" * (MAX_BODY_BYTES - 100) + b'"}'
    answer = httpx.post(server.base_url + "/api/v1/score", content=body,
                        headers={**admin, "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text


def test_concurrent_huge_posts_leave_the_servers_memory_alone(
    server: Server, served_home: ServedHome
) -> None:
    pid = server.process.pid
    httpx.get(server.base_url + "/readyz")
    before = _rss_bytes(pid)
    attempts = [({}, False), ({}, True), (served_home.headers("admin"), False),
                (served_home.headers("admin"), True)] * 2
    started = time.monotonic()
    with ThreadPoolExecutor(len(attempts)) as pool:
        results = list(pool.map(lambda a: _post_raw(server, "/api/v1/users", a[0],
                                                    chunked=a[1]), attempts))
    assert sorted({status for status, _, _ in results}) == [401, 413]
    after = _rss_bytes(pid)
    # Eight hostile posts of 250 MB each: the server kept no more than a few MB of them.
    assert after - before < 20 * 1024 * 1024, (before, after)
    assert time.monotonic() - started < 30
    assert httpx.get(server.base_url + "/healthz").status_code == 200
