"""ferry logs: every line carries the time ferryd read it, apps are merged
in time order, -n keeps the last lines, --since a duration or a time; and
what a daemon writes to stdout reaches its log at once, without the daemon
flushing (its output is a terminal, which stdio buffers by lines)."""
import calendar
import os
import time

from device import build_package


# Python buffers stdout by blocks when it is a pipe: these lines would sit
# in its buffer until it exits (never).
QUIET = """#!/usr/bin/python3
import time
print("listening on port 1883")
time.sleep(2.5)
print("client connected")
time.sleep(600)
"""

CHATTY = """#!/bin/sh
for i in 1 2 3 4 5; do echo "chatty $i"; done
exec sleep 600
"""

APPS = """
quiet:
  command: bin/quiet
  daemon: simple
chatty:
  command: bin/chatty
  daemon: simple
"""


def stamp_of(line):
    t, rest = line.split(" ", 1)
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")), rest


def logs(agent, *args):
    return agent.ferry("logs", *args).stdout.splitlines()


def wait_for_line(agent, spec, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = logs(agent, spec, "-n", "100")
        if any(line.endswith(text) for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log:\n" + "\n".join(logs(agent, spec)))


def test_stdout_unbuffered_and_stamped(agent, tmp_path):
    before = int(time.time())
    image = build_package(str(tmp_path), server=False, apps=APPS,
                          files={"bin/quiet": (QUIET, 0o755), "bin/chatty": (CHATTY, 0o755)})
    agent.ferry("install", image, "--dangerous")
    lines = wait_for_line(agent, "hello.quiet", "hello.quiet: client connected")
    after = int(time.time()) + 1
    shown = [stamp_of(line) for line in lines]
    assert [rest for _, rest in shown][-3:] == [
        "hello.quiet: -- ferryd: starting hello.quiet revision x1 --",
        "hello.quiet: listening on port 1883", "hello.quiet: client connected"]
    assert all(before <= t <= after for t, _ in shown)
    # 2.5 s apart: the time is when the line came, not when it was read back
    assert shown[-1][0] - shown[-2][0] >= 2
    # on disk: UTC to the microsecond
    raw = open(os.path.join(agent.root, "logs/hello/quiet.log")).read().splitlines()
    assert raw[-1].endswith("Z client connected") and raw[-1][19] == "."

    # several apps: merged in time order, -n counts lines of all of them
    every = logs(agent, "hello", "-n", "100")
    times = [stamp_of(line)[0] for line in every]
    assert times == sorted(times)
    assert {line.split(" ", 2)[1] for line in every} >= {"hello.quiet:", "hello.chatty:"}
    last3 = logs(agent, "hello", "-n", "3")
    assert last3 == every[-3:]
    assert [stamp_of(line)[1] for line in logs(agent, "hello.chatty", "-n", "2")] == [
        "hello.chatty: chatty 4", "hello.chatty: chatty 5"]

    # --since: a time (UTC with Z), or a duration back from now
    t_late = shown[-1][0]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_late))
    assert [stamp_of(line)[1] for line in logs(agent, "hello.quiet", "--since", since)] == [
        "hello.quiet: client connected"]
    assert len(logs(agent, "hello.quiet", "--since", "1h")) == 3
    assert logs(agent, "hello.quiet", "--since", "2099-01-01T00:00:00Z") == []
    p = agent.ferry("logs", "hello", "--since", "yesterday", check=1)
    assert p.stderr.startswith("ferry: logs: --since: expected a duration such as 10m or 2h")


def test_hook_output_stamped(agent, tmp_path):
    image = build_package(str(tmp_path), hooks={"install": "echo 'creating the database'"})
    agent.ferry("install", image, "--dangerous")
    lines = logs(agent, "hello.hooks")
    assert stamp_of(lines[-1])[1] == "hello.hooks: creating the database"
    assert stamp_of(lines[-2])[1] == "hello.hooks: -- ferryd: install hook of hello revision x1 --"
