"""Shared fixtures for the system tests: they drive the real binaries built
by tests/run (FERRY_BUILD, default build-test/) in temporary directories."""
import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("FERRY_BUILD", os.path.join(TOP, "build-test"))

BINARIES = {
    "ferry": "src/cli/ferry",
    "ferry-store": "src/store/ferry-store",
    "ferryd": "src/agent/ferryd",
    "ferry-confine": "src/confine/ferry-confine",
    "ferry-tuf-client": "src/tuf-client/ferry-tuf-client",
}


def binary(name):
    path = os.path.join(BUILD, BINARIES[name])
    if not os.path.exists(path):
        pytest.fail(f"{path} is not built; run tests/run")
    return path


def run(name, *args, check=None, env=None, input=None, cwd=None, timeout=300):
    """Run a ferry program; check=0 asserts the exit code. Returns the
    CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    if env:
        full_env.update(env)
    p = subprocess.run([binary(name), *map(str, args)], capture_output=True, text=True,
                       env=full_env, input=input, cwd=cwd, timeout=timeout)
    if check is not None:
        assert p.returncode == check, (
            f"{name} {' '.join(map(str, args))}: exit {p.returncode}, expected {check}\n"
            f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


@pytest.fixture
def ferry():
    return lambda *a, **kw: run("ferry", *a, **kw)


@pytest.fixture
def agent():
    """A ferryd in a temporary root (device.Agent), started; stopped at the
    end, when it must exit 0 on SIGTERM."""
    from device import running_agent  # device.py imports this file
    yield from running_agent()
