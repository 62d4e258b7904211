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


# --- a base on a device: a store that has one, apps packed on it ------------

# The marker a repacked base adds (see repacked): an app that reads it knows
# which revision of the base it runs on.
MARKER = "etc/ferry-test-marker"

# A daemon for an app on a base: each start appends the base it sees (new: the
# marker is there, old: it is not) to $FERRY_DATA/starts and copies the
# base's os-release to $FERRY_DATA/os-release, then waits. Only the base's
# /bin/sh and coreutils: no python in a minbase.
BASE_SERVER = """#!/bin/sh
cat /etc/os-release > "$FERRY_DATA/os-release.new" && mv "$FERRY_DATA/os-release.new" "$FERRY_DATA/os-release"
if [ -e /etc/ferry-test-marker ]; then echo new >> "$FERRY_DATA/starts"; else echo old >> "$FERRY_DATA/starts"; fi
echo "server on $(. /etc/os-release; echo $PRETTY_NAME)"
exec sleep 1000000
"""


def repacked(image, version_suffix=".1"):
    """A new revision of the base at image without a second build: the same
    tree with MARKER added and a version of its own, packed again (once, kept
    beside the cached image as NAME-repacked.ferry)."""
    out = image[:-len(".ferry")] + "-repacked.ferry"
    if os.path.exists(out):
        return out
    tree = out + ".tree"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["unsquashfs", "-q", "-n", "-d", tree, image], check=True,
                   capture_output=True)
    os.unlink(os.path.join(tree, "meta", "sbom.cdx.json"))  # pack writes it
    yaml = os.path.join(tree, "meta", "ferry.yaml")
    text = open(yaml).read()
    version = text.split('version: "')[1].split('"')[0]
    open(yaml, "w").write(text.replace(f'version: "{version}"',
                                       f'version: "{version}{version_suffix}"'))
    with open(os.path.join(tree, MARKER), "w") as f:
        f.write("a repacked base\n")
    run("ferry", "pack", tree, "-o", out + ".part", check=0, timeout=BUILD_TIMEOUT)
    os.replace(out + ".part", out)
    shutil.rmtree(tree, ignore_errors=True)
    return out


def app_on_base(workdir, base_image, name="osr", version="1.0", base="debian-12", hooks=None,
                extra_yaml="", server=True):
    """An app of type app on the base (packed with ferry pack --base), whose
    daemon is BASE_SERVER; hooks: {hook: shell body}. Returns the image."""
    tree = os.path.join(workdir, f"{name}-{version}")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(os.path.join(tree, "meta", "hooks"))
    os.makedirs(os.path.join(tree, "bin"))
    y = [f"name: {name}", f'version: "{version}"', "summary: an app on a base",
         f"base: {base}", "apps:"]
    if server:
        y += ["  server:", "    command: bin/server", "    daemon: simple",
              "    restart-delay: 100ms", "    stop-timeout: 2s"]
        with open(os.path.join(tree, "bin", "server"), "w") as f:
            f.write(BASE_SERVER)
        os.chmod(os.path.join(tree, "bin", "server"), 0o755)
    y += ["  show:", "    command: bin/show"]
    with open(os.path.join(tree, "bin", "show"), "w") as f:
        f.write("#!/bin/sh\ncat /etc/os-release\n")
    os.chmod(os.path.join(tree, "bin", "show"), 0o755)
    if hooks:
        y += ["hooks:"] + [f"  {h}: {{}}" for h in hooks]
        for h, body in hooks.items():
            p = os.path.join(tree, "meta", "hooks", h)
            with open(p, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(p, 0o755)
    y += ["health:", "  grace: 500ms", "  timeout: 10s", "  retries: 0"]
    if extra_yaml:
        y += [extra_yaml.strip("\n")]
    with open(os.path.join(tree, "meta", "ferry.yaml"), "w") as f:
        f.write("\n".join(y) + "\n")
    out = os.path.join(workdir, f"{name}_{version}.ferry")
    if os.path.exists(out):
        os.unlink(out)
    run("ferry", "pack", tree, "--base", base_image, "-o", out, check=0, cwd=workdir)
    return out


class BaseStore:
    """A store (SQLite) where `base` publishes the base and `alice` the apps."""

    def __init__(self, tmp):
        from storelib import Store  # noqa: PLC0415 (storelib imports pytest fixtures)
        self.store = Store(tmp, "sqlite").init().start()
        self.base_token = self.store.account("base")
        self.app_token = self.store.account("alice")
        self.registered = set()

    def push(self, image, name, *channels, token=None, halt=True):
        """Push and release; halt=False: the release is never halted by the
        failures devices report (crash tests report many)."""
        token = token or (self.base_token if name.startswith("debian-") else self.app_token)
        if name not in self.registered:
            self.store.ferry(token, "register", name, check=0)
            self.registered.add(name)
        out = self.store.ferry(token, "push", image, check=0).stdout
        rev = out.split("revision ")[1].split()[0]
        if channels:
            self.store.ferry(token, "release", name, rev, *channels,
                             *([] if halt else ["--no-halt"]), check=0)
        return rev

    @property
    def root_json(self):
        return os.path.join(self.store.dir, "repo", "published", "metadata", "1.root.json")

    def device(self, **config):
        from device import Agent  # noqa: PLC0415
        conf = {"store": self.store.url, "trust": self.root_json,
                "refresh-timer": "every 1h", "retry-delay": "100ms"}
        conf.update(config)
        return Agent(config=conf)

    def stop(self):
        self.store.kill()
