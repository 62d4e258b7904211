"""Base images for the system tests: `ferry base build` is slow (minutes),
so an image is built at most once per session, and FERRY_TEST_BASES=DIR
keeps images in DIR between sessions (an image already there is reused).
Without the variable they go to a temporary folder of the session."""
import contextlib
import os
import shutil
import subprocess

from conftest import run

BUILD_TIMEOUT = 1800


def build(name, suite, out):
    return run("ferry", "base", "build", name, "--suite", suite, "-o", out, check=0,
               timeout=BUILD_TIMEOUT)


def cache_dir(tmp_path_factory):
    d = os.environ.get("FERRY_TEST_BASES") or str(tmp_path_factory.getbasetemp() / "bases")
    os.makedirs(d, exist_ok=True)
    return d


def unavailable(path):
    """Why a base image at path can be neither reused nor built, or None."""
    if os.path.exists(path) or shutil.which("mmdebstrap"):
        return None
    return (f"no base image at {path} (FERRY_TEST_BASES=DIR reuses one) and no mmdebstrap "
            "to build it (apt-get install mmdebstrap)")


def image(tmp_path_factory, name, suite):
    """The path of NAME's image: reused from the cache, else built there."""
    path = os.path.join(cache_dir(tmp_path_factory), f"{name}.ferry")
    if not os.path.exists(path):
        p = build(name, suite, path)
        if not os.path.exists(path):
            raise AssertionError(f"ferry base build {name} --suite {suite} failed: "
                                 f"{p.stderr[-2000:]}")
    return path


@contextlib.contextmanager
def mounted(path, mnt):
    """The image loop-mounted read-only at mnt, as ferryd mounts images."""
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", str(path), str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
