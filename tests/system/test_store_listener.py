"""ferry-store's own listener under slow connections (the store may face
the network without a proxy in front): a thousand connections that send
half a request and then nothing, from a few addresses, must not keep a
normal request from being answered within seconds, during the attack and
after it; an idle connection is closed after --conn-timeout. Each test
stops on its own within about 30 seconds."""
import http.client
import resource
import socket
import time

from storelib import Store

ATTACKERS = [f"127.0.0.{i}" for i in range(2, 10)]  # Linux answers all of 127/8
SLOW = 1000


def answer_time(store):
    """Seconds a normal request takes to be answered (by the API: 401),
    at most 10: beyond that the test fails rather than waits."""
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", store.port, timeout=10)
    try:
        c.request("GET", "/v1/packages/none/reports")
        status = c.getresponse().status
    except OSError as e:
        raise AssertionError(f"no answer after {time.monotonic() - start:.1f}s: {e!r}")
    finally:
        c.close()
    assert status == 401
    return time.monotonic() - start


def open_slow(port, n, deadline):
    """n connections, spread over ATTACKERS, each sending half a request.
    Connections the store closes at once are fine: that is its defence."""
    socks = []
    for i in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.bind((ATTACKERS[i % len(ATTACKERS)], 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /v1/packages/x/reports HTTP/1.1\r\nHost: store\r\nX-Slow: ")
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def test_slow_connections_do_not_starve_the_listener(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOW + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SLOW + 500), hard))
    store = Store(tmp_path, "sqlite").init()
    store.start()
    socks = []
    try:
        assert answer_time(store) < 5
        socks = open_slow(store.port, SLOW, time.monotonic() + 20)
        assert len(socks) > SLOW // 2  # the store did not refuse the connects
        for _ in range(3):
            took = answer_time(store)
            assert took < 5, f"a request took {took:.1f}s during the attack"
    finally:
        for s in socks:
            s.close()
    assert answer_time(store) < 5
    assert store.stop() == 0, store.read_log()


def test_idle_connections_are_closed(tmp_path):
    store = Store(tmp_path, "sqlite").init()
    store.start(args=["--conn-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", store.port), timeout=15)
    s.sendall(b"GET /v1/packages/x/reports HTTP/1.1\r\n")
    start = time.monotonic()
    assert s.recv(100) == b""  # closed by the store, not by our timeout
    took = time.monotonic() - start
    s.close()
    assert 1 < took < 10, took
    assert answer_time(store) < 5
    assert store.stop() == 0, store.read_log()
