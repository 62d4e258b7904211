"""The device's everyday commands against a real ferry-store: automatic
checks that find nothing are counted (ferry refresh --time), not listed as
changes; ferry changes -n; ferry refresh --list (held packages too);
ferry install NAME beside a folder of that name; ferry list while a change
is under way."""
import json
import os
import re

from device import build_package
from test_agent_store import dev, device, empty_checks, pub, wait_for  # noqa: F401 (fixtures)


def test_checks_that_find_nothing_are_counted_not_listed(pub, tmp_path):
    work = str(tmp_path)
    a = device(pub, **{"refresh-timer": "every 1s"}).start()
    try:
        pub.push(build_package(work, version="1.0"), "stable")
        a.ferry("install", "hello")
        wait_for("three empty checks", lambda: empty_checks(a) >= 3)
        changes = a.json("changes")
        assert [c["summary"] for c in changes if "nothing new" in c["summary"]] == []
        assert "nothing new" not in a.ferry("changes").stdout
        out = a.ferry("refresh", "--time").stdout.splitlines()
        assert out[0] == "timer: every 1s"
        assert re.match(r"last:  \d{4}-\d\d-\d\d \d\d:\d\d.* \(nothing new\)$", out[1]), out
        assert out[2].startswith("next:  ")
        # a check that finds something is a change, as its refresh is
        pub.push(build_package(work, version="2.0"), "stable")
        wait_for("revision 2", lambda: (a.installed() or {}).get("revision") == "2")
        summaries = [c["summary"] for c in a.json("changes")]
        assert "Automatic refresh: 1 package to refresh" in summaries
        assert "Refresh hello from revision 1 to 2 (latest/stable)" in summaries
        # a manual refresh is the owner's own act: it stays
        a.ferry("hold", "hello", "--forever")
        assert a.ferry("refresh").stdout == "All packages are up to date.\n"
        # (the timer's own check may be running beside it: it is not listed
        # once it finds nothing, but may be while it runs)
        manual = [c["summary"] for c in a.json("changes") if c["summary"].startswith("Manual")]
        assert manual[-1:] == ["Manual refresh: nothing new"]
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_changes_n(pub, dev, tmp_path):
    pub.push(build_package(str(tmp_path), version="1.0"), "stable")
    dev.ferry("install", "hello")
    for _ in range(3):
        dev.ferry("refresh", "hello")
    every = dev.json("changes")
    assert len(every) == 4
    last2 = json.loads(dev.ferry("changes", "-n", "2", "--json").stdout)
    assert [c["id"] for c in last2] == [c["id"] for c in every[-2:]]
    lines = dev.ferry("changes", "-n", "1").stdout.splitlines()
    assert len(lines) == 2 and lines[1].split()[0] == every[-1]["id"]
    assert len(dev.ferry("changes", "hello", "-n", "3").stdout.splitlines()) == 4
    p = dev.ferry("changes", "-n", "0", check=1)
    assert p.stderr == ("ferry: changes: -n: expected a number of changes from 1 to 100; "
                        "got \"0\"\n")


def test_refresh_list_shows_what_is_available_held_packages_too(pub, dev, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    dev.ferry("install", "hello")
    assert dev.ferry("refresh", "--list").stdout == "All packages are up to date.\n"
    assert dev.json("refresh", "--list") == []
    pub.push(build_package(work, version="2.0"), "stable")
    dev.ferry("hold", "hello", "--forever")
    before = dev.json("changes")
    out = dev.ferry("refresh", "--list").stdout.splitlines()
    assert out[0].split() == ["Name", "Version", "Rev", "Channel", "Notes"]
    assert out[1].split() == ["hello", "2.0", "2", "latest/stable", "held"]
    got = dev.json("refresh", "--list", "hello")
    assert [(x["name"], x["current"], x["revision"], x["version"], x["held"]) for x in got] == \
        [("hello", "1", "2", "2.0", True)]
    # it changes nothing and is not a change
    assert dev.json("changes") == before
    assert dev.installed()["revision"] == "1"
    dev.ferry("unhold", "hello")
    assert dev.ferry("refresh", "--list").stdout.splitlines()[1].split()[-1] == "-"
    p = dev.ferry("refresh", "--time", "--list", check=1)
    assert "--time takes nothing else" in p.stderr


def test_install_name_beside_a_folder_of_that_name(pub, dev, tmp_path):
    pub.push(build_package(str(tmp_path), version="1.0"), "stable")
    cwd = tmp_path / "work"
    (cwd / "hello").mkdir(parents=True)
    p = dev.ferry("install", "hello", cwd=str(cwd))
    assert p.stdout == "hello 1.0 (revision 1) installed from latest/stable\n"
    # a path is still a file
    p = dev.ferry("install", "./hello", cwd=str(cwd), check=1)
    assert p.stderr.startswith(f"ferry: install: cannot install {cwd}/hello: ")


def test_list_shows_the_running_revision_until_the_change_is_done(pub, dev, tmp_path):
    work = str(tmp_path)
    pub.push(build_package(work, version="1.0"), "stable")
    dev.ferry("install", "hello")
    slow = build_package(work, version="2.0", health={"timeout": "60s"}, hooks={
        "check-health": 'while [ ! -e "$FERRY_COMMON/go" ]; do sleep 0.1; done'})
    pub.push(slow, "stable")
    change = dev.ferry("refresh", "hello", "--no-wait").stdout.strip()
    go = os.path.join(dev.root, "data", "hello", "common", "go")
    try:
        wait_for("the health check", lambda: any(
            s["kind"] == "health" and s["status"] == "Doing"
            for s in dev.json("change", change)["steps"]))
        p = dev.ferry("list")
        row = p.stdout.splitlines()[1].split()
        assert row == ["hello", "1.0", "1", "latest/stable", "in-progress"], p.stdout
        assert p.stderr == (f"Note: change {change} (refresh to revision 2) of hello is in "
                            "progress; the revision shown runs until it is done (ferry "
                            "changes).\n")
        assert dev.json("list")[0]["change-in-progress"]["to"] == "2"
    finally:
        open(go, "w").close()  # the health check ends, whatever happened
    wait_for("the refresh", lambda: dev.json("change", change)["status"] == "Done")
    p = dev.ferry("list")
    assert p.stdout.splitlines()[1].split() == ["hello", "2.0", "2", "latest/stable", "-"]
    assert p.stderr == ""
