"""How `ferry` reads the agent's answers over its Unix socket: the device
verbs speak HTTP/1.1 themselves (no libcurl). A small server on a socket the
test made answers as it is told; `ferry list --json` must take every valid
form of answer and refuse broken ones with a clear message."""
import json
import os
import socket
import threading

import pytest

from conftest import run

RESULT = [{"name": "hello", "version": "1.0", "revision": "3", "channel": "latest/stable",
           "current": True}]
BODY = json.dumps({"type": "sync", "status-code": 200, "result": RESULT}).encode()


def chunked(body, size=7):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x;ext=1\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


ANSWERS = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    "chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked(BODY),
    "until-close": b"HTTP/1.0 200 OK\r\n\r\n" + BODY,
}

BROKEN = {
    "cut-off": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(BODY) + 10) + BODY,
                "cut off"),
    "bad-chunk": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + BODY,
                  "bad chunk"),
    "not-http": (b"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP"),
    "not-json": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "not JSON"),
    "no-head-end": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "not HTTP"),
    "nul-in-head": (b"HTTP/1.1 200 OK\r\nX-A: \0\r\nContent-Length: 5\r\n\r\nhello", "not JSON"),
    "bad-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n" + BODY, "bad Content-Length"),
    "negative-length": (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + BODY,
                        "bad Content-Length"),
}


@pytest.fixture
def server(tmp_path):
    path = str(tmp_path / "ferryd.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    state = {"answer": b"", "requests": []}

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n\r\n" not in data:
                    got = c.recv(4096)
                    if not got:
                        break
                    data += got
                state["requests"].append(data)
                c.sendall(state["answer"])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield path, state
    srv.close()


@pytest.mark.parametrize("form", sorted(ANSWERS))
def test_every_valid_answer_form_is_read(server, form):
    path, state = server
    state["answer"] = ANSWERS[form]
    p = run("ferry", "list", "--json", env={"FERRY_SOCKET": path}, check=0)
    assert json.loads(p.stdout) == RESULT
    req = state["requests"][-1]
    assert req.startswith(b"GET /v1/") and b"Connection: close\r\n" in req


@pytest.mark.parametrize("form", sorted(BROKEN))
def test_broken_answers_are_refused_clearly(server, form):
    path, state = server
    state["answer"], message = BROKEN[form]
    p = run("ferry", "list", "--json", env={"FERRY_SOCKET": path})
    assert p.returncode != 0
    assert p.stdout == ""
    assert message in p.stderr, p.stderr


def test_no_agent_says_so(tmp_path):
    p = run("ferry", "list", env={"FERRY_SOCKET": str(tmp_path / "none.sock")})
    assert p.returncode == 1
    assert "cannot reach ferryd" in p.stderr and "is ferryd running?" in p.stderr


def test_connect_is_retried_while_the_backlog_is_full(tmp_path):
    """A Unix socket's connect fails with EAGAIN while the listener's backlog
    is full: ferry tries again until ferryd takes connections."""
    path = str(tmp_path / "ferryd.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            break
        fillers.append(s)
    assert fillers, "the backlog did not fill"

    def serve_later():
        threading.Event().wait(0.5)
        for _ in fillers:
            srv.accept()[0].close()
        c, _ = srv.accept()
        with c:
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
            c.sendall(ANSWERS["content-length"])

    t = threading.Thread(target=serve_later, daemon=True)
    t.start()
    try:
        p = run("ferry", "list", "--json", env={"FERRY_SOCKET": path}, check=0, timeout=30)
        assert json.loads(p.stdout) == RESULT
    finally:
        t.join(timeout=10)
        srv.close()
        for s in fillers:
            s.close()
