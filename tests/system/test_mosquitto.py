"""End to end with a real Debian daemon: the Mosquitto MQTT broker from the
archive, staged with its libraries through stage-packages, packed as a
confined daemon whose only plug is network-bind, pushed to a real
ferry-store, released, installed by a real ferryd in a temporary root, and
used by real MQTT clients on the host (mosquitto_pub and mosquitto_sub from
Debian's mosquitto-clients). Then a refresh, and a broken release that the
device rolls back by itself while the clients go on being served.
docs/publishing.md walks through the same package."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import run
from device import Agent
from packing import EPOCH, deb_cache
from storelib import Store, free_port

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None,
    reason="needs the MQTT clients on the host (apt-get install mosquitto-clients)")

MANIFEST = """\
name: mosquitto
version: "{version}"
summary: Eclipse Mosquitto MQTT broker, from Debian
license: EPL-2.0
apps:
  broker:
    command: bin/broker
    daemon: simple
    plugs: [network-bind]
hooks:
  check-health:
    plugs: [network]
health:
  grace: 2s
  timeout: 20s
parts:
  broker:
    stage-packages: [mosquitto, libcjson1, libdlt2, libwrap0, mosquitto-clients, libmosquitto1]
    prime: ["-usr/share/doc", "-usr/share/man", "-usr/share/lintian", "-etc/init.d",
            "-lib/systemd", "-etc/logrotate.d", "-usr/lib/tmpfiles.d"]
"""

# the broker with the libraries staged beside it, its configuration from
# the package
BROKER = """\
#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
for d in "$here"/usr/lib/*-linux-gnu; do
	LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH
exec "$here/usr/sbin/mosquitto" -c "$here/etc/broker.conf"
"""

# healthy when the broker takes a message (it may still be starting)
CHECK_HEALTH = """\
#!/bin/sh
for d in "$FERRY_PKG"/usr/lib/*-linux-gnu; do
	LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH
port=$(cat "$FERRY_PKG/etc/port")
i=0
while [ $i -lt 50 ]; do
	"$FERRY_PKG/usr/bin/mosquitto_pub" -h 127.0.0.1 -p "$port" -t ferry/health -m ok \\
		-q 1 && exit 0
	i=$((i + 1))
	sleep 0.2
done
echo "the broker does not take messages on port $port"
exit 1
"""

CONF = """\
listener {port}
allow_anonymous true
persistence false
log_dest stdout
{extra}
"""


def package(work, version, port, extra=""):
    tree = os.path.join(work, f"mosquitto-{version}")
    files = {"meta/ferry.yaml": (MANIFEST.format(version=version), 0o644),
             "bin/broker": (BROKER, 0o755),
             "meta/hooks/check-health": (CHECK_HEALTH, 0o755),
             "etc/broker.conf": (CONF.format(port=port, extra=extra), 0o644),
             "etc/port": (f"{port}\n", 0o644)}
    for rel, (text, mode) in files.items():
        p = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
    image = os.path.join(work, f"mosquitto_{version}.ferry")
    run("ferry", "pack", tree, "-o", image, "--deb-cache", deb_cache(), check=0,
        env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=600)
    return image


def mqtt_round_trip(port):
    """A real client on the host: publish a retained message, read it back
    with a second client."""
    payload = uuid.uuid4().hex
    topic = "ferry/e2e"
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-r",
                    "-q", "1", "-m", payload], check=True, timeout=30, capture_output=True)
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                        "-C", "1", "-W", "10"], timeout=30, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip() == payload


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path), "sqlite").init().start()
    yield s
    s.kill()


def test_mosquitto_from_debian_end_to_end(store, tmp_path):
    work = str(tmp_path)
    port = free_port()
    token = store.account("alice")

    def publish(*args, check=0):
        p = store.ferry(token, *args)
        assert p.returncode == check, p.stdout + p.stderr
        return p

    publish("register", "mosquitto")
    v1 = package(work, "2.0.11", port)
    info = json.loads(run("ferry", "inspect", v1, "--json", check=0).stdout)
    assert [(a["name"], a.get("daemon")) for a in info["apps"]] == [("broker", "simple")]
    assert "mosquitto" in [c["name"] for c in info["components"]]
    publish("push", v1, "--release", "stable")

    root_json = os.path.join(store.dir, "repo", "published", "metadata", "1.root.json")
    dev = Agent(config={"store": store.url, "trust": root_json, "refresh-timer": "every 1h",
                        "retry-delay": "100ms"}).start()
    try:
        p = dev.ferry("install", "mosquitto")
        assert p.stdout == "mosquitto 2.0.11 (revision 1) installed from latest/stable\n"
        # confined with network-bind only, and a client on the host gets through
        conns = dev.json("connections", "mosquitto")
        assert {(c["plug"], c["connected"]) for c in conns} == {("network-bind", True),
                                                                ("network", True)}
        assert mqtt_round_trip(port)

        # a refresh: the new revision serves the same clients
        publish("push", package(work, "2.0.11+ferry1", port), "--release", "stable")
        p = dev.ferry("refresh", "mosquitto")
        assert p.stdout == ("mosquitto 2.0.11+ferry1 (revision 2) refreshed from "
                            "latest/stable, replacing revision 1\n")
        assert mqtt_round_trip(port)

        # a broken release: the broker refuses its configuration and exits;
        # the device goes back to revision 2 by itself
        broken = package(work, "2.0.11+ferry2", port, extra="no_such_option true")
        publish("push", broken)
        publish("release", "mosquitto", "3", "stable", "--halt-failures", "1")
        p = dev.ferry("refresh", "mosquitto", check=1)
        assert "health" in p.stderr, p.stderr
        row = dev.ferry("list").stdout.splitlines()[1].split()
        assert row[:3] == ["mosquitto", "2.0.11+ferry1", "2"]
        assert mqtt_round_trip(port)
        failed = [c for c in dev.json("changes") if c["status"] == "Error"]
        assert len(failed) == 1 and failed[0]["to"] == "3"
        # the store hears of it
        deadline = time.time() + 60
        while time.time() < deadline:
            reports = json.loads(publish("reports", "mosquitto", "--json").stdout)
            if len(reports) == 3:
                break
            time.sleep(0.2)
        assert [(r["to-revision"], r["result"]) for r in reports] == [
            (3, "rolled-back"), (2, "ok"), (1, "ok")]
        # ...and halts the release: the channel holds revision 2 again, so
        # no other device takes revision 3
        status = json.loads(publish("status", "mosquitto", "--json").stdout)
        stable = [c for c in status["channels"] if c["channel"] == "latest/stable"][0]
        assert stable["revision"] == 2, status
        assert [h["revision"] for h in status["halts"]] == [3]
        assert dev.ferry("refresh").stdout == "All packages are up to date.\n"
        assert mqtt_round_trip(port)
    finally:
        log = dev.logtext()
        status = dev.stop()
        dev.cleanup()
    assert status == 0, log
