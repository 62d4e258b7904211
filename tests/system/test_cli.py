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


def ferry_verbs():
    p = run("ferry", "--help", check=0)
    lines = p.stdout.split("verbs:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.split()[0] for line in lines]


def test_ferry_lists_its_verbs():
    assert {"init", "pack", "install", "run", "connections"} <= set(ferry_verbs())


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_verb_prints_its_usage_on_help(flag):
    for verb in ferry_verbs():
        p = run("ferry", verb, flag, check=None)
        assert (p.returncode, p.stderr) == (0, ""), verb
        assert p.stdout.startswith(f"usage: ferry {verb}"), (verb, p.stdout)
