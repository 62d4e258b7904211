"""tuf-js (from npm, tests/interop/package-lock.json) as an independent TUF
client against repositories written by ferry's writer, over HTTP on
127.0.0.1: it refreshes, follows a root rotation, downloads a target, and
refuses a target that the writer did not sign."""
import json
import os

import pytest

from tuf_harness import World, accepted, need_node, refused, serve  # noqa: F401


@pytest.fixture
def js_world(tmp_path, serve):
    need_node()
    return World(tmp_path, serve, kind="tuf-js")


def test_tufjs_refreshes_and_downloads(js_world):
    w = js_world
    accepted(w.client.refresh())
    assert json.loads(w.client.metadata("timestamp.json")) == json.loads(
        w.repo.read("timestamp.json"))
    img = w.path("world", "world_1_amd64.ferry")
    accepted(w.client.download(img, w.path("world", "channels.json")))
    with open(w.client.target_file(img), "rb") as f:
        assert f.read() == b"image of world revision 1\n"
    w.client.assert_only_verified(w.repo)


def test_tufjs_follows_root_and_key_rotation(tmp_path, serve):
    need_node()
    w = World(tmp_path, serve, init_opts=("--keys", "root=2/2"), kind="tuf-js")
    accepted(w.client.refresh())
    w.repo.edit("rotate", "root", "--keys", "3", "--threshold", "2")
    w.repo.edit("rotate", "timestamp")
    w.repo.edit("rotate", "hello")
    w.add("hello", "hello_2_amd64.ferry", b"revision 2\n")
    accepted(w.client.download(w.path("hello", "hello_2_amd64.ferry")))
    assert json.loads(w.client.metadata("root.json"))["signed"]["version"] == 3
    w.client.assert_only_verified(w.repo)


def test_tufjs_rejects_target_not_signed_by_the_writer(js_world):
    """The server holds a file under a package's name (and under the name a
    signed target would have) that the writer never signed, and swaps the
    bytes of a signed one: tuf-js installs neither."""
    w = js_world
    evil = w.path("hello", "evil.ferry")
    d, base = evil.rsplit("/", 1)
    w.server.overrides[f"targets/{evil}"] = b"evil"
    w.server.overrides[f"targets/{d}/{'00' * 32}.{base}"] = b"evil"
    refused(w.client.download(evil), "not found")

    img = w.path("hello", "hello_1_amd64.ferry")
    w.server.overrides[w.url(img)] = b"X" * len(w.content[img])
    refused(w.client.download(img), "hash")
    assert os.listdir(w.client.tdir) == []
    w.client.assert_only_verified(w.repo)
