"""ferry init: writes a starting meta/ferry.yaml, never over an existing one.

`ferry init` parses the manifest it is about to write and fails with an
internal error if it does not parse, so exit 0 here also means the written
manifest parses (the unit tests parse the template directly)."""
import os

from conftest import run


def test_init_writes_a_manifest_named_after_the_directory(tmp_path):
    d = tmp_path / "hello-world"
    p = run("ferry", "init", d, check=0)
    manifest = d / "meta" / "ferry.yaml"
    assert p.stdout == (f'wrote {manifest} for the package "hello-world"; '
                        f"edit it, then run: ferry pack {d}\n")
    assert p.stderr == ""
    text = manifest.read_text()
    assert "\nname: hello-world\n" in text
    assert "\n  hello-world:\n    # " in text
    assert "    command: bin/hello-world\n" in text
    assert oct(manifest.stat().st_mode & 0o777) == "0o644"


def test_init_in_the_current_directory(tmp_path):
    d = tmp_path / "My_Project"
    d.mkdir()
    p = run("ferry", "init", check=0, cwd=d)
    assert p.stdout.startswith('wrote meta/ferry.yaml for the package "my-project";')
    assert "\nname: my-project\n" in (d / "meta" / "ferry.yaml").read_text()


def test_init_falls_back_to_my_app(tmp_path):
    for base in ("x", "__", "a--b", "Ünïcode"):
        d = tmp_path / base
        run("ferry", "init", d, check=0)
        assert "\nname: my-app\n" in (d / "meta" / "ferry.yaml").read_text(), base


def test_init_refuses_to_overwrite(tmp_path):
    d = tmp_path / "app"
    (d / "meta").mkdir(parents=True)
    manifest = d / "meta" / "ferry.yaml"
    manifest.write_text("name: mine\n")
    p = run("ferry", "init", d, check=1)
    assert p.stderr == f"ferry: init: {manifest} already exists; not overwriting it\n"
    assert p.stdout == ""
    assert manifest.read_text() == "name: mine\n"

    # a second init over its own output is refused the same way
    d2 = tmp_path / "app2"
    run("ferry", "init", d2, check=0)
    before = (d2 / "meta" / "ferry.yaml").read_text()
    p = run("ferry", "init", d2, check=1)
    assert "already exists; not overwriting it" in p.stderr
    assert (d2 / "meta" / "ferry.yaml").read_text() == before


def test_init_does_not_follow_a_symlink(tmp_path):
    d = tmp_path / "app"
    (d / "meta").mkdir(parents=True)
    target = tmp_path / "elsewhere.yaml"
    os.symlink(target, d / "meta" / "ferry.yaml")
    p = run("ferry", "init", d, check=1)
    assert "already exists; not overwriting it" in p.stderr
    assert not target.exists()


def test_init_bad_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    p = run("ferry", "init", f, check=1)
    assert p.stderr == f"ferry: init: {f}: not a directory\n"

    d = tmp_path / "app"
    d.mkdir()
    (d / "meta").write_text("x")
    p = run("ferry", "init", d, check=1)
    assert p.stderr == f"ferry: init: {d}/meta: exists and is not a directory\n"

    p = run("ferry", "init", "", check=1)
    assert p.stderr == "ferry: init: the directory name is empty\n"


def test_init_usage(tmp_path):
    p = run("ferry", "init", tmp_path / "a", tmp_path / "b", check=2)
    assert "one directory at most" in p.stderr
    assert "usage: ferry init [DIR]" in p.stderr
    assert not (tmp_path / "a").exists()
    p = run("ferry", "init", "--bogus", check=2)
    assert "ferry: init: unknown option --bogus" in p.stderr
    p = run("ferry", "init", "--help", check=0)
    assert p.stdout.startswith("usage: ferry init [DIR]")
    p = run("ferry", "--help", check=0)
    assert "  init " in p.stdout
