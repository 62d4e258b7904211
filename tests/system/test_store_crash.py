"""Kill the store with SIGKILL during uploads and releases, again and again;
after each restart the database, the blobs and the published metadata
agree (Store.check_consistent), and what the database committed is what
devices see. First at each step of a push and a release in turn (fault
points that SIGKILL the process on the spot), then at random moments while
several publishers work at once."""
import random
import threading
import time

import pytest

from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)

KILL = {"FERRY_FAULT_ACTION": "kill"}


def channel_revision(store, token, channel):
    st, m = store.api("GET", "/v1/packages/hello/status", token=token)
    assert st == 200
    for c in m["channels"]:
        if c["channel"] == channel:
            return c["revision"]
    return None


@pytest.mark.parametrize("fault,committed", [
    ("release-before-commit", False),
    ("release-after-commit", True),
    ("publish-before-commit", True),
    ("publish-after-commit", True),
])
def test_kill_at_each_step_of_a_release(store, tmp_path, fault, committed):
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    store.ferry(alice, "push", make_image(tmp_path, "hello", "1.0"), "--release", "stable",
                check=0)
    store.ferry(alice, "push", make_image(tmp_path, "hello", "2.0"), check=0)
    assert store.stop() == 0

    store.start(env=dict(KILL, FERRY_FAULT=fault))
    p = store.ferry(alice, "release", "hello", "2", "stable", check=1)
    assert "ferry: release hello: " in p.stderr
    store.proc.wait(timeout=30)
    store.kill()
    store.start()
    store.check_consistent()
    assert channel_revision(store, alice, "latest/stable") == (2 if committed else 1)
    assert store.stop() == 0, store.read_log()


def test_kill_after_the_blob_is_stored(store, tmp_path):
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    assert store.stop() == 0
    img = make_image(tmp_path, "hello", "1.0")
    store.start(env=dict(KILL, FERRY_FAULT="push-after-blob"))
    store.ferry(alice, "push", img, check=1)
    store.kill()
    store.start()
    store.check_consistent()
    assert store.sql("SELECT count(*) FROM revisions") == [("0",)]
    # the same push again succeeds, reusing the stored bytes
    p = store.ferry(alice, "push", img, check=0)
    assert p.stdout == "pushed hello revision 1 (1.0)\n"
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_kill_at_random_moments(store, tmp_path):
    rnd = random.Random(8470)
    store.start()
    alice, bob = store.account("alice"), store.account("bob")
    store.owner_tokens.update(alice=alice, bob=bob)
    store.ferry(alice, "register", "hello", check=0)
    store.ferry(bob, "register", "world", check=0)
    images = {(name, v): make_image(tmp_path, name, f"{v}.0", payload=rnd.randbytes(40000))
              for name in ("hello", "world") for v in range(1, 7)}
    chans = ["stable", "candidate", "beta", "edge", "edge/fix-1"]
    for rnd_i in range(6):
        def publisher(name, token):
            for v in range(1, 7):
                store.ferry(token, "push", images[(name, v)], "--release",
                            rnd.choice(chans))
                store.ferry(token, "release", name, str(rnd.randint(1, 3)),
                            rnd.choice(chans))
                store.ferry(token, "close", name, rnd.choice(chans))
        threads = [threading.Thread(target=publisher, args=a)
                   for a in (("hello", alice), ("world", bob))]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.2, 1.5))
        store.kill()
        for t in threads:
            t.join(timeout=300)
        store.start()
        store.check_consistent()
    assert store.stop() == 0, store.read_log()
