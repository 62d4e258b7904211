"""The command lines: usage, unknown verbs, versions."""
import pytest

from conftest import run


@pytest.mark.parametrize("prog", ["ferry", "ferry-store", "ferryd", "ferry-confine"])
def test_version(prog):
    p = run(prog, "--version", check=0)
    assert p.stdout.startswith(prog + " ")


@pytest.mark.parametrize("prog", ["ferry", "ferry-store", "ferryd", "ferry-confine"])
def test_unknown_verb_is_usage_error(prog):
    p = run(prog, "frobnicate", check=2)
    assert "frobnicate" in p.stderr
    assert "usage:" in p.stderr


def test_ferry_without_verb_prints_usage():
    p = run("ferry", check=2)
    assert "usage: ferry" in p.stderr
