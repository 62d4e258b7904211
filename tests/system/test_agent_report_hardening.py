"""ferryd's outcome reports when the store or the device misbehaves: a
device id bound to another key (kept, retried hourly, shown in
GET /v1/system), a clock stepped back (the outbox does not stall), a failed
first install from a file (reported on latest/stable), a long branch (not
truncated), a redirect (retried, not dropped); and denial lines an app
forges on its own output, which ferryd must not take for ferry-confine's."""
import http.server
import json
import os
import sqlite3
import threading
import time

import pytest

from device import Agent, build_package
from storelib import backend, postgres, store  # noqa: F401 (fixtures)
from test_reports import Publisher, device, outbox, revert_while_the_store_is_down, wait_for


@pytest.fixture
def pub(store):
    store.start()
    return Publisher(store)


def stopped(a):
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status == 0, log


def system(agent):
    return agent.api("/v1/system")


def set_config(agent, **over):
    conf = dict(line.split(" = ", 1) for line in open(agent.config).read().splitlines())
    conf.update(over)
    with open(agent.config, "w") as f:
        f.write("".join(f"{k} = {v}\n" for k, v in conf.items()))


def test_key_mismatch_keeps_the_report_and_says_so(pub, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"))
    first = device(pub).start()
    try:
        first.ferry("install", "hello")
        wait_for("the first device's report", lambda: len(pub.reports()) == 1)
        device_id = system(first)["device-id"]
    finally:
        stopped(first)
    # another key under the same device id: the store answers 403 device-key-mismatch
    other = device(pub, **{"device-id": device_id}).start()
    try:
        other.ferry("install", "hello")
        wait_for("the refusal", lambda: "device-key-mismatch" in other.logtext())
        time.sleep(1)
        log = other.logtext()
        assert "dropped" not in log, log
        line = [x for x in log.splitlines() if "device-key-mismatch" in x][0]
        assert device_id in line and pub.store.url in line, line
        assert len(outbox(other)) == 1 and outbox(other)[0][1] == 1   # hourly: one attempt
        st = system(other)["reports"]
        assert st["waiting"] == 1 and st["device-key-mismatch"] is True, st
        assert device_id in st["last-error"]
        assert len(pub.reports()) == 1
    finally:
        stopped(other)


def test_outbox_survives_a_clock_stepped_back(pub, tmp_path):
    dev = device(pub).start()
    try:
        port = revert_while_the_store_is_down(pub, dev, str(tmp_path))
        assert dev.stop() == 0
        # scheduled by a clock that ran 30 days ahead, since set right
        con = sqlite3.connect(os.path.join(dev.root, "state.db"), timeout=30)
        with con:
            con.execute("UPDATE outbox SET next_attempt_ms=?",
                        (int((time.time() + 30 * 86400) * 1000),))
        con.close()
        pub.store.start(port=port)
        dev.start()
        wait_for("the revert's report", lambda: len(pub.reports()) == 3, timeout=30)
        wait_for("an empty outbox", lambda: outbox(dev) == [])
    finally:
        stopped(dev)


def test_failed_first_install_from_a_file_is_reported(pub, tmp_path):
    work = str(tmp_path)
    image = build_package(work, version="1.0", hooks={"install": "echo no; exit 3"})
    pub.push(image)
    dev = device(pub).start()
    try:
        dev.ferry("install", image, check=1)
        got = wait_for("the failure's report", lambda: pub.reports())
        assert got[0]["channel"] == "latest/stable" and got[0]["result"] != "ok", got
        assert "dropped" not in dev.logtext()
    finally:
        stopped(dev)


def test_long_branch_is_reported_whole(pub, tmp_path):
    work = str(tmp_path)
    channel = "latest/stable/" + "b" * 120
    pub.push(build_package(work, version="1.0"), channel)
    dev = device(pub).start()
    try:
        dev.ferry("install", "hello", "--channel", channel)
        got = wait_for("the report", lambda: pub.reports())
        assert got[0]["channel"] == channel, got
    finally:
        stopped(dev)


class Redirect(http.server.BaseHTTPRequestHandler):
    target = None

    def answer(self):
        self.send_response(301)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = answer

    def log_message(self, *a):
        pass


def test_redirect_is_retried_not_dropped(pub, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"))
    pub.push(build_package(work, version="2.0"))
    dev = device(pub).start()
    srv = None
    try:
        dev.ferry("install", "hello")
        pub.push(build_package(work, version="3.0"))
        dev.ferry("refresh", "hello")
        wait_for("two reports", lambda: len(pub.reports()) == 2)
        assert dev.stop() == 0
        # a proxy in front of the store that sends everything elsewhere
        Redirect.target = pub.store.url
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        set_config(dev, store=f"http://127.0.0.1:{srv.server_address[1]}")
        dev.start()
        dev.ferry("revert", "hello")
        wait_for("a refused attempt", lambda: "redirect" in dev.logtext())
        time.sleep(1)
        log = dev.logtext()
        assert "dropped" not in log, log
        rows = outbox(dev)
        assert len(rows) == 1 and rows[0][1] >= 1, rows
        assert "HTTP 301" in system(dev)["reports"]["last-error"]
        assert len(pub.reports()) == 2
    finally:
        stopped(dev)
        if srv:
            srv.shutdown()


# --- denial lines are ferry-confine's alone --------------------------------------------

FORGED = ('ferry-confine[1]: warn: hello.forger: pid 7 (sh): ptrace(2) denied by seccomp rule '
          '"FORGED-BY-THE-APP" (debugging other processes)')

FORGER = r"""#!/bin/sh
echo '%s'
echo '%s' >&2
unshare --user true
echo forger done
exec sleep 1000
""" % (FORGED, FORGED)


@pytest.mark.skipif(os.geteuid() != 0, reason="confinement by a root ferryd needs root")
def test_app_cannot_forge_denials(tmp_path):
    work = str(tmp_path)
    image = build_package(work, server=False, apps="""
        forger:
          command: bin/forger
          daemon: simple
        """, hooks={"install": "echo '%s'\nunshare --user true\nexit 0" % FORGED},
        files={"bin/forger": (FORGER, 0o755)})
    a = Agent().start()
    try:
        a.ferry("install", image, "--dangerous")
        logs = lambda: a.ferry("logs", "hello.forger", "-n", "50").stdout  # noqa: E731
        wait_for("the forger's run", lambda: "forger done" in logs())
        real = 'unshare(2) with CLONE_NEWUSER denied by seccomp rule "userns"'
        wait_for("the real denial", lambda: real in a.logtext() and real in logs())
        log = a.logtext()
        assert "FORGED-BY-THE-APP" not in log, log
        assert "hello.forger: " in log and "hello.hook.install: " in log, log
        hooks = open(os.path.join(a.root, "logs", "hello", "hooks.log")).read()
        assert real in hooks, hooks
    finally:
        stopped(a)
