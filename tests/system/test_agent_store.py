"""ferryd with a real ferry-store: install and refresh from channels, channel
switching, files covered by signed metadata, automatic refresh on a timer,
holds, rollback by itself with the failed revision not tried again,
progressive releases across many device ids, and the network and
verification failures: a download cut off (resumed), a corrupt image,
metadata that fails verification, not enough free space."""
import hashlib
import http.client
import http.server
import json
import os
import threading
import time

import pytest

from device import Agent, build_package
from storelib import Store


class Publisher:
    """A store with one account that owns `hello`: a new one over SQLite in
    tmp, or the initialised store given (storelib's fixture, either backend)."""

    def __init__(self, tmp, store=None):
        self.tmp = tmp
        self.store = (store or Store(tmp, "sqlite").init()).start()
        self.token = self.store.account("alice")
        self.ferry("register", "hello")

    def ferry(self, *args):
        p = self.store.ferry(self.token, *args)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def push(self, image, *channels, progressive=None):
        out = self.ferry("push", image)
        rev = out.split("revision ")[1].split()[0]
        if channels:
            args = ["release", "hello", rev, *channels]
            if progressive:
                args += ["--progressive", str(progressive)]
            self.ferry(*args)
        return rev

    @property
    def root_json(self):
        return os.path.join(self.store.dir, "repo", "published", "metadata", "1.root.json")

    def stop(self):
        self.store.kill()


@pytest.fixture
def pub(tmp_path):
    p = Publisher(tmp_path)
    yield p
    p.stop()


def device(pub, url=None, **config):
    conf = {"store": url or pub.store.url, "trust": pub.root_json, "refresh-timer": "every 1h",
            "retry-delay": "100ms"}
    conf.update(config)
    return Agent(config=conf)


@pytest.fixture
def dev(pub):
    a = device(pub).start()
    yield a
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status == 0, log


def wait_for(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def empty_checks(a):
    """How many automatic checks found nothing, as ferry refresh --time says."""
    out = a.ferry("refresh", "--time").stdout
    return int(out.split("automatic checks that found nothing new: ")[1].split()[0])


def test_install_refresh_revert(pub, dev, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    p = dev.ferry("install", "hello")
    assert p.stdout == "hello 1.0 (revision 1) installed from latest/stable\n"
    assert dev.check_invariant() == "1"
    assert dev.ferry("refresh", "hello").stdout == "hello is up to date (revision 1, latest/stable)\n"
    assert dev.ferry("refresh").stdout == "All packages are up to date.\n"
    pub.push(build_package(work, version="2.0"), "stable")
    p = dev.ferry("refresh")
    assert p.stdout == "hello 2.0 (revision 2) refreshed from latest/stable, replacing revision 1\n"
    assert dev.check_invariant() == "2"
    info = dev.json("info", "hello")
    assert info["local"] is False and info["channel"] == "latest/stable"
    assert info["sha256"] == hashlib.sha256(
        open(os.path.join(dev.root, "images/hello_2.ferry"), "rb").read()).hexdigest()
    dev.ferry("revert", "hello")
    assert dev.check_invariant() == "1"
    # a general refresh does not take back what the owner reverted...
    p = dev.ferry("refresh")
    assert p.stdout == "All packages are up to date.\n"
    assert "hello: revision 2 failed or was reverted here" in p.stderr
    # ...naming the package does
    p = dev.ferry("refresh", "hello")
    assert p.stdout.startswith("hello 2.0 (revision 2) refreshed")
    p = dev.ferry("install", "hello", check=1)
    assert p.stderr == "ferry: install: hello is already installed (ferry refresh hello updates it)\n"
    p = dev.ferry("install", "nope", check=1)
    assert "nope is not in the store" in p.stderr


def test_channel_switching(pub, dev, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    pub.push(build_package(work, version="2.0-beta"), "beta")
    dev.ferry("install", "hello")
    p = dev.ferry("refresh", "hello", "--channel", "beta")
    assert p.stdout == ("hello 2.0-beta (revision 2) refreshed from latest/beta, "
                        "replacing revision 1\n")
    assert dev.ferry("list").stdout.splitlines()[1].split()[:4] == ["hello", "2.0-beta", "2",
                                                                    "latest/beta"]
    p = dev.ferry("refresh", "hello", "--channel", "stable")
    assert p.stdout.startswith("hello 1.0 (revision 1) refreshed from latest/stable")
    assert dev.check_invariant() == "1"
    p = dev.ferry("refresh", "hello", "--channel", "nightly/", check=1)
    assert "nightly/" in p.stderr
    p = dev.ferry("refresh", "hello", "--channel", "9.9/stable", check=1)
    assert "hello has no revision in 9.9/stable for amd64" in p.stderr
    # a closed risk follows the next more stable one: edge gets beta's
    p = dev.ferry("refresh", "hello", "--channel", "edge")
    assert p.stdout.startswith("hello 2.0-beta (revision 2) refreshed from latest/edge")


def test_install_file_covered_by_signed_metadata(pub, dev, tmp_path):
    work = str(tmp_path)
    v1 = build_package(work, version="1.0")
    pub.push(v1, "stable")
    p = dev.ferry("install", v1)
    assert p.stdout == "hello 1.0 (revision 1) installed\n"
    assert dev.json("info", "hello")["local"] is False
    os.makedirs(os.path.join(work, "x"))
    other = build_package(os.path.join(work, "x"), version="1.1")
    p = dev.ferry("install", other, check=1)
    assert "no signed metadata of hello covers this file" in p.stderr
    assert dev.check_invariant() == "1"


def test_automatic_refresh_rollback_and_no_retry(pub, tmp_path):
    """The README's story: v2 arrives on its own; v3, whose check-health
    fails, is rolled back to v2 by itself and not tried again; v4 is."""
    work = str(tmp_path)
    a = device(pub, **{"refresh-timer": "every 1s"}).start()
    try:
        pub.push(build_package(work, version="1.0"), "stable")
        a.ferry("install", "hello")
        pub.push(build_package(work, version="2.0"), "stable")
        wait_for("revision 2", lambda: (a.installed() or {}).get("revision") == "2")
        assert a.check_invariant() == "2"
        bad = build_package(work, version="3.0", hooks={"check-health": "echo 'no database'; exit 1"})
        pub.push(bad, "stable")
        failed = wait_for("the failed refresh", lambda: [
            c for c in a.json("changes") if c["status"] == "Error" and c.get("to") == "3"])
        assert failed[0]["err"].startswith("health: check-health hook exited with status 1")
        assert "no database" in failed[0]["err"]
        assert a.check_invariant() == "2"
        # more automatic checks pass, and none tries revision 3 again (a
        # check that finds nothing is counted, not kept as a change)
        seen = empty_checks(a)
        wait_for("two more checks", lambda: empty_checks(a) >= seen + 2)
        assert len([c for c in a.json("changes") if c.get("to") == "3"]) == 1
        assert a.check_invariant() == "2"
        text = a.ferry("changes").stdout
        assert "Refresh hello from revision 2 to 3 (latest/stable)" in text
        pub.push(build_package(work, version="4.0"), "stable")
        wait_for("revision 4", lambda: (a.installed() or {}).get("revision") == "4")
        assert a.check_invariant() == "4"
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_holds_stop_automatic_refreshes(pub, tmp_path):
    work = str(tmp_path)
    a = device(pub, **{"refresh-timer": "every 1s"}).start()
    try:
        pub.push(build_package(work, version="1.0"), "stable")
        a.ferry("install", "hello")
        a.ferry("hold", "hello", "--forever")
        pub.push(build_package(work, version="2.0"), "stable")
        seen = empty_checks(a)
        wait_for("checks that skip the held package", lambda: empty_checks(a) >= seen + 2)
        assert a.check_invariant() == "1"
        a.ferry("hold", "--for", "1h")          # all packages
        a.ferry("unhold", "hello")
        seen = empty_checks(a)
        wait_for("a check that skips all", lambda: empty_checks(a) >= seen + 2)
        assert a.check_invariant() == "1"
        a.ferry("unhold")
        wait_for("revision 2", lambda: (a.installed() or {}).get("revision") == "2")
    finally:
        assert a.stop() == 0
        a.cleanup()


def expected_pick(device_id, rev, pct):
    h = hashlib.sha256(f"{device_id}/hello/{rev}".encode()).hexdigest()
    return int(h[:8], 16) % 100 < pct


def test_progressive_release_across_devices(pub, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    pub.push(build_package(work, version="2.0"), "stable", progressive=40)
    ids = [f"device-{i:03d}" for i in range(12)]
    got = {}
    a = device(pub)
    try:
        for dev_id in ids:
            with open(a.config, "a") as f:
                f.write(f"device-id = {dev_id}\n")
            a.start()
            a.ferry("install", "hello")
            got[dev_id] = a.installed()["revision"]
            a.ferry("remove", "hello", "--purge")
            assert a.stop() == 0
            lines = open(a.config).read().splitlines()
            open(a.config, "w").write("\n".join(line for line in lines
                                                if not line.startswith("device-id")) + "\n")
    finally:
        a.cleanup()
    want = {d: "2" if expected_pick(d, "2", 40) else "1" for d in ids}
    assert got == want
    assert set(got.values()) == {"1", "2"}, "both revisions should be in use"


# --- a hostile or broken network between the device and the store ---------------------

class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of the store that can cut off an
    image download, corrupt it, or tamper with timestamp.json."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.cut_after = None      # bytes of an image body sent before cutting, once per count
        self.cuts = 0
        self.corrupt = False
        self.tamper_timestamp = False
        self.ranges = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("range",)}
                if "Range" in self.headers:
                    proxy.ranges.append(self.headers["Range"])
                c.request("GET", self.path, headers=headers)
                r = c.getresponse()
                body = r.read()
                c.close()
                image = self.path.endswith(".ferry")
                if self.path.endswith("timestamp.json") and proxy.tamper_timestamp:
                    doc = json.loads(body)
                    doc["signed"]["version"] += 1000      # the signature no longer matches
                    body = json.dumps(doc).encode()
                if image and proxy.corrupt and len(body) > 5000:
                    body = body[:4000] + bytes([body[4000] ^ 0xFF]) + body[4001:]
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "content-range", "etag", "accept-ranges"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if image and proxy.cuts > 0 and proxy.cut_after is not None:
                    proxy.cuts -= 1
                    self.wfile.write(body[:proxy.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(pub):
    p = Proxy(pub.store.port)
    yield p
    p.stop()


def big_package(work, version):
    payload = os.urandom(3 * 1024 * 1024).hex()   # incompressible, ~6 MB of hex
    return build_package(work, version=version, files={"payload": (payload, 0o644)})


def test_download_cut_off_is_resumed(pub, proxy, tmp_path):
    work = str(tmp_path)
    pub.push(big_package(work, "1.0"), "stable")
    a = device(pub, url=proxy.url, retries="1").start()
    try:
        proxy.cut_after, proxy.cuts = 1_000_000, 1
        p = a.ferry("install", "hello", check=1)
        assert "download: download hello revision 1: " in p.stderr
        assert a.installed() is None
        part = os.path.join(a.root, "images/.incoming/hello_1.part")
        assert os.path.getsize(part) == 1_000_000, "the partial download is kept"
        a.ferry("install", "hello")
        assert proxy.ranges == ["bytes=1000000-"]
        assert a.check_invariant() == "1"
        assert not os.path.exists(part)
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_download_cut_off_is_retried_within_the_change(pub, proxy, tmp_path):
    work = str(tmp_path)
    pub.push(big_package(work, "1.0"), "stable")
    a = device(pub, url=proxy.url, retries="3").start()
    try:
        proxy.cut_after, proxy.cuts = 700_000, 2
        a.ferry("install", "hello")
        assert proxy.ranges == ["bytes=700000-", "bytes=1400000-"]
        assert a.check_invariant() == "1"
        assert "resuming" in a.logtext()
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_corrupt_image_is_refused(pub, proxy, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    pub.push(big_package(work, "2.0"), "beta")
    a = device(pub, url=proxy.url).start()
    try:
        a.ferry("install", "hello")
        proxy.corrupt = True
        p = a.ferry("refresh", "hello", "--channel", "beta", check=1)
        assert ("download: download hello revision 2: the image does not match its signed "
                "length and hashes; discarded it") in p.stderr
        assert a.check_invariant() == "1"
        assert not os.path.exists(os.path.join(a.root, "images/hello_2.ferry"))
        assert not os.path.exists(os.path.join(a.root, "images/.incoming/hello_2.part"))
        # not the revision's fault: tried again once the network behaves
        proxy.corrupt = False
        a.ferry("refresh", "hello", "--channel", "beta")
        assert a.check_invariant() == "2"
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_metadata_failing_verification_is_refused(pub, proxy, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    a = device(pub, url=proxy.url, retries="1").start()
    try:
        proxy.tamper_timestamp = True
        p = a.ferry("install", "hello", check=1)
        assert "resolve: store " in p.stderr and "timestamp" in p.stderr
        assert a.installed() is None
        proxy.tamper_timestamp = False
        a.ferry("install", "hello")
        assert a.check_invariant() == "1"
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_store_unreachable(pub, tmp_path):
    a = device(pub, url="http://127.0.0.1:9", retries="2").start()
    try:
        p = a.ferry("install", "hello", check=1)
        assert "resolve: store http://127.0.0.1:9: " in p.stderr
        assert a.logtext().count("trying again") == 1
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_not_enough_free_space(pub, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    a = device(pub, **{"min-free-space": str(1 << 50)}).start()
    try:
        p = a.ferry("install", "hello", check=1)
        assert f"download: not enough free space in {a.root}/images/.incoming: " in p.stderr
        assert a.installed() is None
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_system_info_names_store_and_device(pub, dev):
    s = dev.api("/v1/system")
    assert s["store"] == pub.store.url
    assert len(s["device-id"]) == 32
    assert s["refresh-timer"] == "every 1h"
    assert s["next-refresh"] > time.time()
    # the id stays across restarts
    dev.stop()
    dev.start()
    assert dev.api("/v1/system")["device-id"] == s["device-id"]


@pytest.mark.parametrize("timer,message", [
    ("00:00~24:00/0", "expected windows such as 00:00~24:00/4"),
    ("25:00", "expected windows such as"),
    ("every 1ms", "expected every DURATION from 1s to 168h"),
])
def test_bad_refresh_timer(pub, timer, message):
    a = device(pub, **{"refresh-timer": timer})
    try:
        from conftest import run
        p = run("ferryd", "--root", a.root, "--socket", a.socket, "--config", a.config, check=2)
        assert message in p.stderr
    finally:
        a.cleanup()
