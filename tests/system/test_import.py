"""ferry import: real .snap files made by `snap pack` (Debian's snapd
package) become package directories: meta/ferry.yaml from meta/snap.yaml
(apps, daemons, hooks, environment, plugs, base), what could not be
carried over listed (text and --json), and the result packs."""
import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import run
from packing import write_tree

pytestmark = pytest.mark.skipif(shutil.which("snap") is None,
                                reason="needs snap pack (apt-get install snapd)")

SNAP_YAML = """\
name: broker
version: '2.0.18'
summary: An MQTT broker
description: |
  Two lines
  of text.
license: EPL-2.0
base: core22
confinement: strict
grade: stable
architectures: [amd64]
environment:
  LANG: C.UTF-8
  CONF: $SNAP_DATA/broker.conf
plugs:
  config:
    interface: content
    target: $SNAP_DATA/config
  gpu:
    interface: opengl
apps:
  broker:
    command: bin/broker -c $SNAP_DATA/broker.conf
    daemon: simple
    restart-condition: always
    restart-delay: 2s
    stop-timeout: 15s
    plugs: [network-bind, alsa, desktop]
    environment:
      LANG: de_DE.UTF-8
    stop-command: bin/stop
  fork:
    command: bin/fork
    daemon: forking
    restart-condition: on-abnormal
  watch:
    command: bin/watch
    daemon: notify
  once:
    command: bin/once
    daemon: oneshot
    command-chain: [bin/chain]
  cli:
    command: bin/cli
hooks:
  configure:
    plugs: [network]
  connect-plug-config: {}
layout:
  /etc/broker:
    bind: $SNAP_DATA/etc
"""

SCRIPT = ("#!/bin/sh\necho hi\n", 0o755)


def snap_pack(tmp_path, snap_yaml, hooks=(), files=None):
    tree = tmp_path / "snap-src"
    f = {"meta/snap.yaml": (snap_yaml, 0o644)}
    for h in hooks:
        f[f"meta/hooks/{h}"] = SCRIPT
    for name in ("broker", "fork", "watch", "once", "cli", "stop", "chain", "hello"):
        f[f"bin/{name}"] = SCRIPT
    f.update(files or {})
    write_tree(str(tree), manifest=None, files=f)
    out = tmp_path / "snaps"
    out.mkdir()
    p = subprocess.run(["snap", "pack", str(tree), str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (snap,) = list(out.iterdir())
    return str(snap)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    d = tmp_path_factory.mktemp("import")
    return snap_pack(d, SNAP_YAML, hooks=("configure", "install", "check-health",
                                          "connect-plug-config", "prepare-device"))


NOT_CARRIED = [
    ("plugs.gpu", 'ferry has no interface "opengl"'),
    ("apps.broker.plugs.desktop", 'ferry has no interface "desktop"'),
    ("apps.broker.stop-command", "ferry has no equivalent"),
    ("apps.fork", "restart-condition: on-abnormal: ferry restarts on-failure, always or never"),
    ("apps.once.command-chain", "ferry has no equivalent"),
    ("hooks.connect-plug-config", "ferry has no connect-plug-config hook"),
    ("hooks.prepare-device", "ferry has no prepare-device hook"),
    ("layout", "ferry has no equivalent"),
]


def test_import_maps_snap_yaml(broker, tmp_path):
    out = tmp_path / "broker"
    p = run("ferry", "import", broker, "-o", out, "--base-map", "core20=debian-11,core22=debian-12",
            check=0)
    lines = p.stdout.splitlines()
    assert lines[0] == f"Imported broker 2.0.18 into {out}"
    assert lines[1] == "Not carried over:"
    assert lines[2:-1] == [f"  {w}: {why}" for w, why in NOT_CARRIED]
    assert lines[-1] == f"Check {out}/meta/ferry.yaml, then: ferry pack {out}"
    m = yaml.safe_load(open(out / "meta" / "ferry.yaml"))
    assert {k: m[k] for k in ("name", "version", "summary", "license", "base", "confinement",
                              "grade", "architectures")} == {
        "name": "broker", "version": "2.0.18", "summary": "An MQTT broker",
        "license": "EPL-2.0", "base": "debian-12", "confinement": "strict", "grade": "stable",
        "architectures": ["amd64"]}
    assert m["description"] == "Two lines\nof text.\n"
    assert m["plugs"] == {"config": {"interface": "content", "target": "$FERRY_DATA/config"}}
    assert m["apps"]["broker"] == {
        "command": "bin/broker -c $FERRY_DATA/broker.conf", "daemon": "simple",
        "restart": "always", "restart-delay": "2s", "stop-timeout": "15s",
        "plugs": ["network-bind", "audio-playback"],
        "environment": {"CONF": "$FERRY_DATA/broker.conf", "LANG": "de_DE.UTF-8"}}
    assert m["apps"]["fork"]["daemon"] == "forking" and "restart" not in m["apps"]["fork"]
    assert m["apps"]["watch"]["daemon"] == "notify"
    assert m["apps"]["once"]["daemon"] == "oneshot"
    # an app that lists no plugs gets the snap's own, as snapd binds them
    assert m["apps"]["cli"] == {"command": "bin/cli", "plugs": ["config"],
                                "environment": {"LANG": "C.UTF-8",
                                                "CONF": "$FERRY_DATA/broker.conf"}}
    assert m["hooks"] == {"configure": {"plugs": ["network"]}, "check-health": {},
                          "install": {}}
    # hooks ferry has no use for are gone; the rest of the snap is there
    assert sorted(os.listdir(out / "meta" / "hooks")) == ["check-health", "configure", "install"]
    assert open(out / "bin" / "broker").read() == SCRIPT[0]
    assert os.stat(out / "bin" / "broker").st_mode & 0o777 == 0o755
    assert os.stat(out / "meta").st_mode & 0o777 == 0o755


def test_import_json_and_an_unmapped_base(broker, tmp_path):
    out = tmp_path / "b"
    p = run("ferry", "import", broker, "-o", out, "--json", check=0)
    info = json.loads(p.stdout)
    assert info["name"] == "broker" and info["version"] == "2.0.18"
    assert info["base"] is None
    assert info["directory"] == str(out)
    assert info["apps"] == ["broker", "fork", "watch", "once", "cli"]
    assert info["hooks"] == ["configure", "check-health", "install"]
    assert info["dropped-hooks"] == ["connect-plug-config", "prepare-device"]
    assert info["plugs"] == {"config": "content", "network-bind": "network-bind",
                             "alsa": "audio-playback", "network": "network"}
    lost = [(x["what"], x["why"]) for x in info["not-carried"]]
    assert lost[0] == ("base", "core22: no ferry base named for it (--base-map core22=BASE)")
    assert lost[1:] == NOT_CARRIED
    assert "base" not in yaml.safe_load(open(out / "meta" / "ferry.yaml"))


def test_imported_snap_packs(tmp_path):
    snap = snap_pack(tmp_path, """\
name: hello-snap
version: '1.0'
summary: Says hello
apps:
  hello-snap:
    command: bin/hello
  server:
    command: bin/hello
    daemon: simple
    plugs: [network-bind]
""", hooks=("install",))
    out = tmp_path / "hello-snap"
    p = run("ferry", "import", snap, cwd=str(tmp_path), check=0)
    assert p.stdout.splitlines() == ["Imported hello-snap 1.0 into hello-snap",
                                     "Check hello-snap/meta/ferry.yaml, then: ferry pack hello-snap"]
    run("ferry", "pack", out, "-o", tmp_path / "h.ferry", check=0)
    info = json.loads(run("ferry", "inspect", tmp_path / "h.ferry", "--json", check=0).stdout)
    assert info["name"] == "hello-snap"
    assert sorted(a["name"] for a in info["apps"]) == ["hello-snap", "server"]
    # the directory is there now: a second import does not write over it
    p = run("ferry", "import", snap, cwd=str(tmp_path), check=1)
    assert p.stderr.startswith("ferry: import: hello-snap: ")
    assert "exists" in p.stderr


def test_what_is_not_a_snap(tmp_path):
    tree = write_tree(str(tmp_path / "pkg"))
    run("ferry", "pack", tree, "-o", tmp_path / "p.ferry", check=0)
    p = run("ferry", "import", tmp_path / "p.ferry", "-o", tmp_path / "x", check=1)
    assert p.stderr == (f"ferry: import: {tmp_path}/p.ferry: no meta/snap.yaml: not a snap "
                        "made by snap pack\n")
    (tmp_path / "junk.snap").write_bytes(b"not a squashfs at all" * 10)
    p = run("ferry", "import", tmp_path / "junk.snap", check=1)
    assert p.stderr.startswith(f"ferry: import: {tmp_path}/junk.snap: ")
    p = run("ferry", "import", tmp_path / "p.ferry", "--base-map", "core22", check=1)
    assert p.stderr == ("ferry: import: --base-map: expected SNAPBASE=BASE (such as "
                        "core22=debian-12), at most 16, separated by commas; got \"core22\"\n")
    assert not os.path.exists(tmp_path / "x")
