"""What an app runs: `command` with its arguments (shell-like words, no
shell, $FERRY_* expanded), `command-chain` scripts that run first and exec
the rest, the package's `environment` for apps and hooks, and the pack-time
check that every entry of a command-chain is in the package."""
import os

import pytest

from device import build_package, sh

SHOW = sh("""
    echo "wrapped:$WRAPPED greeting:$GREETING level:$LEVEL"
    for a in "$@"; do echo "[$a]"; done
    """)
WRAP = sh("""
    WRAPPED="$WRAPPED $(basename "$0")"; export WRAPPED
    exec "$@"
    """)

APPS = """
show:
  command: bin/show --port 8080 'two words' "say \\"hi\\"" $FERRY_DATA/db x\\ y ''
  command-chain: [bin/wrap-a, bin/wrap-b]
  environment:
    LEVEL: debug
    GREETING: app's own
recorder:
  command: bin/show "--out=${FERRY_COMMON}/args" --daemon
  daemon: oneshot
"""

ENV = """
environment:
  GREETING: hi from $FERRY_NAME
  LEVEL: info
"""


def package(work, **kw):
    files = {"bin/show": (SHOW, 0o755), "bin/wrap-a": (WRAP, 0o755),
             "bin/wrap-b": (WRAP, 0o755)}
    files.update(kw.pop("files", {}))
    return build_package(work, apps=APPS, extra_yaml=ENV, files=files, **kw)


def test_command_arguments_chain_and_environment(agent, tmp_path):
    hook = 'echo "$GREETING/$LEVEL" > "$FERRY_COMMON/hook-env"'
    agent.ferry("install", package(str(tmp_path), hooks={"install": hook}), "--dangerous")
    p = agent.ferry("run", "hello.show", "extra arg")
    assert p.stdout.splitlines() == [
        "wrapped: wrap-a wrap-b greeting:app's own level:debug",
        "[--port]", "[8080]", "[two words]", '[say "hi"]', "[/ferry/hello/data/db]", "[x y]",
        "[]", "[extra arg]"]
    # a daemon gets its arguments the same way; the package's environment
    # reaches it where it has none of its own
    common = os.path.join(agent.root, "data/hello/common")
    svc = {s["app"]: s for s in agent.json("services")}
    assert svc["recorder"]["active"] == "exited"
    log = agent.ferry("logs", "hello.recorder").stdout
    assert "wrapped: greeting:hi from hello level:info" in log
    assert "[--out=/ferry/hello/common/args]" in log and "[--daemon]" in log
    # and so do hooks
    assert open(os.path.join(common, "hook-env")).read() == "hi from hello/info\n"


def test_command_chain_entries_must_be_in_the_package(tmp_path):
    files = {"bin/wrap-b": ("", 0o644)}
    with pytest.raises(AssertionError) as e:
        package(str(tmp_path), files=files)
    assert "apps.show.command-chain[1]: bin/wrap-b is not executable (chmod +x it)" \
        in str(e.value)
    tree = os.path.join(str(tmp_path), "hello-1.0")
    os.unlink(os.path.join(tree, "bin/wrap-b"))
    from conftest import run
    p = run("ferry", "pack", tree, "-o", os.path.join(str(tmp_path), "x.ferry"))
    assert p.returncode != 0
    assert "apps.show.command-chain[1]: bin/wrap-b is not in the package" in p.stderr


def test_shell_syntax_in_a_command_is_refused(tmp_path):
    apps = "bad:\n  command: bin/show > /tmp/x\n"
    with pytest.raises(AssertionError) as e:
        build_package(str(tmp_path), apps=apps, files={"bin/show": (SHOW, 0o755)})
    assert ("apps.bad.command: expected a program and its arguments (at most 64 words) such "
            "as bin/server --port 8080: shell syntax") in str(e.value)
