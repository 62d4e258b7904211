"""ferry-confine for real: as root (the real case), a confined test program
(tests/tools/escape) tries to get out, and each interface is checked to grant
what docs/interfaces.md says and nothing more, on the host's root and on a
debian-12 base (`--base`, where nothing of the host's /usr, /var, /opt or
/etc/passwd shows). The package tree is a plain directory; the state
directory lives under /var/lib so that hiding it is really exercised."""
import ctypes
import hashlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import baselib
from conftest import BUILD, TOP, binary

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ferry-confine's tests run as root")

UID = GID = 5000
OTHER_UID = 5001
ESCAPE = os.path.join(BUILD, "tests/tools/escape")
SANDBOX_PKG = "/ferry/demo/current"


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    v = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION), x86_64 and aarch64
    return max(v, 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Listener:
    """A server on the host side that accepts and closes, until stopped."""

    def __init__(self, family, address):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                c.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class Env:
    pass


@pytest.fixture(scope="module")
def env():
    e = Env()
    e.root = tempfile.mkdtemp(prefix="ferry-test-confine-", dir="/var/tmp")
    e.state = tempfile.mkdtemp(prefix="ferry-test-state-", dir="/var/lib")
    os.chmod(e.root, 0o755)
    os.chmod(e.state, 0o755)
    e.pkg = os.path.join(e.root, "pkg")
    os.makedirs(os.path.join(e.pkg, "bin"))
    shutil.copy(ESCAPE, os.path.join(e.pkg, "bin/escape"))
    suid = os.path.join(e.pkg, "bin/escape-suid")
    shutil.copy(ESCAPE, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    e.data = os.path.join(e.state, "data/demo/1")
    e.common = os.path.join(e.state, "data/demo/common")
    other = os.path.join(e.state, "data/other/common")
    for d, uid in ((e.data, UID), (e.common, UID), (other, OTHER_UID)):
        os.makedirs(d)
        os.chown(d, uid, uid)
    e.secret = os.path.join(other, "secret")
    with open(e.secret, "w") as f:
        f.write("other package's data\n")
    os.chmod(e.secret, 0o644)  # only the sandbox keeps it from demo

    # host-side things an app must not reach, or may reach with a plug
    e.port = free_port()
    e.tcp = Listener(socket.AF_INET, ("127.0.0.1", e.port))
    e.abstract = f"ferry-test-{os.getpid()}"
    e.abs = Listener(socket.AF_UNIX, "\0" + e.abstract)
    e.created = []
    if not os.path.isdir("/run/ferry"):
        os.makedirs("/run/ferry")
        e.created.append("/run/ferry")  # removed last: after the socket in it
    e.agent_sock = "/run/ferry/ferryd.sock"
    e.agent = None
    if not os.path.exists(e.agent_sock):
        e.agent = Listener(socket.AF_UNIX, e.agent_sock)
        os.chmod(e.agent_sock, 0o666)  # so that only hiding keeps the app out
        e.created.insert(0, e.agent_sock)
    e.log = f"/var/log/ferry-test-{os.getpid()}.log"
    with open(e.log, "w") as f:
        f.write("a system log line\n")
    os.chmod(e.log, 0o644)
    e.created.append(e.log)
    if not os.path.exists("/home"):
        os.makedirs("/home")
    if not os.path.exists("/mnt"):
        os.makedirs("/mnt")

    # fake device nodes (the null device under the names the interfaces
    # grant): the hardware is not here, the paths are what is tested
    e.devices = {
        "serial-port": "/dev/ttyUSB97",
        "gpio": "/dev/gpiochip97",
        "i2c": "/dev/i2c-97",
        "spi": "/dev/spidev97.0",
        "camera": "/dev/video97",
        "audio-playback": "/dev/snd/pcmC97D0p",
        "time-control": "/dev/rtc97",
    }
    if not os.path.isdir("/dev/snd"):
        os.makedirs("/dev/snd")
        e.created.append("/dev/snd")
    for path in e.devices.values():
        if os.path.exists(path):
            os.unlink(path)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(path, 0o666)
        e.created.insert(0, path)
    # the serial port is the group-owned kind: dialout, not world
    os.chown(e.devices["serial-port"], 0, 20)
    os.chmod(e.devices["serial-port"], 0o660)
    yield e
    e.tcp.close()
    e.abs.close()
    if e.agent:
        e.agent.close()
    for p in e.created:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.unlink(p)
    shutil.rmtree(e.root, ignore_errors=True)
    shutil.rmtree(e.state, ignore_errors=True)


def base_args(e, plugs=(), extra=()):
    args = [binary("ferry-confine"), "--name", "demo", "--app", "app", "--revision", "1",
            "--pkg-dir", e.pkg, "--data", e.data, "--common", e.common,
            "--uid", str(UID), "--gid", str(GID), "--state-dir", e.state]
    for p in plugs:
        args += ["--plug", p]
    return args + list(extra)


def confine(e, *attempt, plugs=(), extra=(), env=None, timeout=60, user=None):
    """Run bin/escape ATTEMPT... confined; returns (outcome lines by attempt, process)."""
    full_env = dict(os.environ)
    full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    if env:
        full_env.update(env)
    p = subprocess.run(base_args(e, plugs, extra) + ["--", "bin/escape", *map(str, attempt)],
                       capture_output=True, text=True, env=full_env, timeout=timeout, user=user)
    return p


def outcome(p, name):
    for line in p.stdout.splitlines():
        if line.startswith(name + ": "):
            return line[len(name) + 2:]
    raise AssertionError(f"no outcome for {name}\nstdout: {p.stdout}\nstderr: {p.stderr}")


def attempt(e, name, *args, plugs=(), extra=()):
    p = confine(e, name, *args, plugs=plugs, extra=extra)
    return outcome(p, name), p


# ---- the escape suite -------------------------------------------------------

@pytest.mark.parametrize("path", ["/usr/escape", "/etc/escape", "/escape", "/var/escape",
                                  SANDBOX_PKG + "/escape", "/run/escape", "/dev/escape"])
def test_cannot_write_outside_its_directories(env, path):
    out, _ = attempt(env, "write", path)
    assert out == "denied EROFS"


def test_can_write_its_own_directories(env):
    p = confine(env, "write", "/ferry/demo/data/f", "--next", "write", "/ferry/demo/common/f",
                "--next", "write", "/tmp/f", "--next", "write", "/var/tmp/f", "--next", "write", "/dev/shm/f")
    assert p.stdout.count(": ok") == 5, p.stdout
    assert os.path.exists(os.path.join(env.data, "f"))
    assert os.stat(os.path.join(env.data, "f")).st_uid == UID


def test_private_tmp_is_not_the_hosts(env):
    marker = tempfile.NamedTemporaryFile(dir="/tmp", prefix="ferry-host-")
    out, _ = attempt(env, "read", marker.name)
    assert out == "denied ENOENT"


def test_cannot_read_another_packages_data(env):
    other = env.secret
    out, _ = attempt(env, "read", other)
    assert out == "denied ENOENT"
    out, _ = attempt(env, "list", os.path.dirname(os.path.dirname(other)))
    assert out == "denied ENOENT" or out == "ok 0"


def test_state_dir_hiding_is_what_protects_it(env):
    # the same read with the agent's state directory left at its default:
    # the test's state directory is then visible, read-only, and the file
    # readable by everyone: proof that the test above can fail
    p = subprocess.run([binary("ferry-confine"), "--name", "demo", "--app", "app", "--revision", "1",
                        "--pkg-dir", env.pkg, "--data", env.data, "--common", env.common,
                        "--uid", str(UID), "--gid", str(GID), "--", "bin/escape", "read", env.secret],
                       capture_output=True, text=True)
    assert outcome(p, "read") == "ok other package's data"


@pytest.mark.parametrize("path", ["/root", "/home"])
def test_root_and_home_hidden_without_home(env, path):
    out, _ = attempt(env, "list", path)
    assert out == "denied ENOENT"


def test_no_host_network_without_network(env):
    out, _ = attempt(env, "connect", env.port)
    assert out == "denied ECONNREFUSED"
    out, _ = attempt(env, "connect", env.port, plugs=["network"])
    assert out == "ok"


ECHO_SERVER = r"""
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print("bind:", e.strerror, flush=True)
    sys.exit(3)
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
c.sendall(b"echo " + c.recv(64))
"""


def serve_and_connect(env, plugs):
    """A TCP server in the sandbox on the host's 127.0.0.1:PORT, a client on
    the host: (what the server said first, the reply or the client's error)."""
    port = free_port()
    full_env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    p = subprocess.Popen(base_args(env, plugs) + ["--", "/usr/bin/python3", "-c", ECHO_SERVER,
                                                  str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    try:
        first = p.stdout.readline().strip()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"hello")
                reply = c.recv(64).decode()
        except OSError as e:
            reply = type(e).__name__
        else:
            assert p.wait(timeout=30) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    return first, reply


def test_network_bind_alone_accepts_connections_from_the_host(env):
    if landlock_abi() < 4:
        pytest.skip("Landlock ABI 4 (TCP rules) not in this kernel")
    assert serve_and_connect(env, ["network-bind"]) == ("listening", "echo hello")
    # without network-bind the server cannot listen, with or without network
    for plugs in ([], ["network"]):
        assert serve_and_connect(env, plugs) == ("bind: Permission denied",
                                                 "ConnectionRefusedError"), plugs


def test_network_bind_alone_opens_no_outgoing_connection(env):
    if landlock_abi() < 4:
        pytest.skip("Landlock ABI 4 (TCP rules) not in this kernel")
    out, _ = attempt(env, "connect", env.port, plugs=["network-bind"])
    assert out == "denied EACCES"
    out, _ = attempt(env, "connect", env.port, plugs=["network-bind", "network"])
    assert out == "ok"


def test_ptrace_of_a_host_process_is_denied_and_logged(env):
    out, p = attempt(env, "ptrace", os.getpid())
    assert out == "denied EPERM"
    assert 'demo.app: pid 2 (escape): ptrace(2) denied by seccomp rule "ptrace"' in p.stderr


def test_cannot_see_host_processes(env):
    out, _ = attempt(env, "ps")
    assert out == "ok 1,2"  # ferry-init and the app itself
    out, _ = attempt(env, "stat", f"/proc/{os.getpid()}")
    assert out == "denied ENOENT"
    out, _ = attempt(env, "kill", os.getpid())
    assert out == "denied ESRCH"


@pytest.mark.parametrize("name,rule", [
    ("mount", "mount"), ("umount", "mount"), ("module", "module"), ("bpf", "bpf"), ("keyctl", "keyring"),
    ("userfaultfd", "userfaultfd"), ("io_uring", "io_uring"), ("userns", "userns"),
    ("personality", "personality"), ("tiocsti", "tty-inject"), ("settime", "time"),
    ("syslog", "syslog"), ("reboot-probe", "reboot"),
])
def test_seccomp_denies(env, name, rule):
    out, p = attempt(env, name)
    assert out == "denied EPERM"
    assert f'denied by seccomp rule "{rule}"' in p.stderr


def test_personality_query_still_works(env):
    out, _ = attempt(env, "personality-query")
    assert out == "ok"


def test_cannot_create_device_nodes_but_fifos(env):
    out, p = attempt(env, "mknod", "/tmp/null")
    assert out == "denied EPERM"
    assert "of a character device denied by seccomp rule \"mknod\"" in p.stderr
    out, _ = attempt(env, "mkfifo", "/tmp/fifo")
    assert out == "ok"


def test_setuid_binary_gives_nothing(env):
    # the setuid-root copy ran, but as the package's user, and cannot become root
    p = confine(env, "setuid-exec", SANDBOX_PKG + "/bin/escape-suid")
    assert outcome(p, "raise-uid") == f"denied EPERM euid={UID}"


def test_cannot_raise_capabilities(env):
    out, _ = attempt(env, "caps")
    assert out == ("ok eff=0000000000000000 prm=0000000000000000 bnd=0000000000000000 "
                   "amb=0000000000000000 nnp=1")
    assert attempt(env, "capset")[0] == "denied EPERM"
    assert attempt(env, "ambient")[0] == "denied EPERM"
    assert attempt(env, "raise-uid")[0] == f"denied EPERM euid={UID}"
    assert attempt(env, "whoami")[0].startswith(f"ok uid={UID} euid={UID} gid={GID} egid={GID}")


def cgroup_dirs(monitor_pid):
    leaf = f"demo.app.{monitor_pid}"
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return {"v2": f"/sys/fs/cgroup/ferry/{leaf}"}
    return {c: f"/sys/fs/cgroup/{c}/ferry/{leaf}" for c in ("memory", "pids", "cpu")}


def test_cgroup_limits_applied_and_removed(env):
    p = subprocess.Popen(base_args(env, extra=["--memory", "64M", "--pids", "32", "--cpu", "50%"]) +
                         ["--", "bin/escape", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("wait: ready"), line + p.stderr.read()
        dirs = cgroup_dirs(p.pid)
        if "v2" in dirs:
            d = dirs["v2"]
            assert open(f"{d}/memory.max").read().strip() == str(64 << 20)
            assert open(f"{d}/pids.max").read().strip() == "32"
            assert open(f"{d}/cpu.max").read().split() == ["50000", "100000"]
            procs = open(f"{d}/cgroup.procs").read().split()
        else:
            assert open(f"{dirs['memory']}/memory.limit_in_bytes").read().strip() == str(64 << 20)
            assert open(f"{dirs['pids']}/pids.max").read().strip() == "32"
            assert open(f"{dirs['cpu']}/cpu.cfs_quota_us").read().strip() == "50000"
            procs = open(f"{dirs['pids']}/cgroup.procs").read().split()
        assert len(procs) == 2  # ferry-init and the app; the monitor stays outside
        assert str(p.pid) not in procs
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0
    for d in dirs.values():
        assert not os.path.exists(d)


def test_pids_limit_holds(env):
    out, _ = attempt(env, "forkbomb", 50, extra=["--pids", "8"])
    assert out.startswith("denied EAGAIN made ")
    assert int(out.split()[-1]) <= 6


def test_memory_limit_kills_and_says_so(env):
    r, w = os.pipe()
    p = subprocess.run(base_args(env, extra=["--memory", "32M", "--status-fd", str(w)]) +
                       ["--", "bin/escape", "alloc", "256"], capture_output=True, text=True, pass_fds=[w])
    os.close(w)
    status = os.read(r, 1024).decode()
    os.close(r)
    assert p.returncode == 137, p.stderr
    assert status == "killed 9 oom\n"
    assert "demo.app: killed: out of memory" in p.stderr


@pytest.mark.parametrize("plugs,errnos", [((), {"denied ENOENT"}),
                                          (("hardware-observe",), {"denied EROFS", "denied EACCES"})])
def test_cannot_leave_its_cgroup_or_raise_limits(env, plugs, errnos):
    for path in ("/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory/cgroup.procs",
                 "/sys/fs/cgroup/pids/cgroup.procs"):
        out, _ = attempt(env, "cgroup-move", path, plugs=plugs, extra=["--pids", "32"])
        assert out in errnos | {"denied ENOENT"}, (path, out)
    for path, value in (("/sys/fs/cgroup/pids.max", "max"), ("/sys/fs/cgroup/pids/pids.max", "max"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "-1")):
        out, _ = attempt(env, "cgroup-write", path, value, plugs=plugs, extra=["--pids", "32"])
        assert out in errnos | {"denied ENOENT"}, (path, out)
    if plugs:
        # with /sys visible the cgroup files are there, and still refused
        out, _ = attempt(env, "cgroup-move", "/sys/fs/cgroup/pids/cgroup.procs"
                         if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup/cgroup.procs",
                         plugs=plugs, extra=["--pids", "32"])
        assert out in errnos


def test_agent_socket_unreachable(env):
    out, _ = attempt(env, "unix-connect", env.agent_sock)
    assert out == "denied ENOENT"
    # an agent using another run directory is hidden as well
    run_dir = tempfile.mkdtemp(prefix="ferry-test-run-", dir="/var/lib")
    os.chmod(run_dir, 0o755)
    try:
        sock = os.path.join(run_dir, "ferryd.sock")
        lst = Listener(socket.AF_UNIX, sock)
        os.chmod(sock, 0o666)
        try:
            out, _ = attempt(env, "unix-connect", sock, extra=["--run-dir", run_dir])
            assert out == "denied ENOENT"
            out, _ = attempt(env, "unix-connect", sock)  # not hidden: reachable
            assert out == "ok"
        finally:
            lst.close()
    finally:
        shutil.rmtree(run_dir)


@pytest.mark.skipif(landlock_abi() < 6, reason="Landlock ABI 6 (abstract socket scoping) not in this kernel")
def test_abstract_sockets_of_the_host_unreachable_even_with_network(env):
    out, _ = attempt(env, "abstract-connect", env.abstract, plugs=["network"])
    assert out == "denied EPERM"


def test_mount_setattr_fallback_keeps_binds_read_only(env):
    p = confine(env, "write", "/usr/escape", "--next", "write", "/ferry/demo/data/g",
                env={"FERRY_FAULT": "mount_setattr"})
    assert outcome(p, "write") == "denied EROFS"
    assert p.stdout.splitlines()[1] == "write: ok", p.stdout + p.stderr


# ---- interfaces ---------------------------------------------------------------

def probes(e):
    """interface -> (attempt, what it gives with the plug, without it)"""
    return {
        "network": (["connect", e.port], "ok", "denied ECONNREFUSED"),
        "network-bind": (["bind-tcp", 18089], "ok", "denied EACCES"),
        "home": (["list", "/home"], None, "denied ENOENT"),
        "removable-media": (["list", "/mnt"], None, "denied ENOENT"),
        "serial-port": (["open-dev", e.devices["serial-port"]], "ok", "denied ENOENT"),
        "gpio": (["open-dev", e.devices["gpio"]], "ok", "denied ENOENT"),
        "i2c": (["open-dev", e.devices["i2c"]], "ok", "denied ENOENT"),
        "spi": (["open-dev", e.devices["spi"]], "ok", "denied ENOENT"),
        "camera": (["open-dev", e.devices["camera"]], "ok", "denied ENOENT"),
        "audio-playback": (["open-dev", e.devices["audio-playback"]], "ok", "denied ENOENT"),
        "hardware-observe": (["list", "/sys/class"], None, "denied ENOENT"),
        "system-observe": (["read", "/run/host/proc/1/stat"], None, "denied ENOENT"),
        "log-observe": (["read", e.log], "ok a system log line", "denied ENOENT"),
        "mount-observe": (["read", "/run/host/mountinfo"], None, "denied ENOENT"),
        "network-observe": (["read", "/run/host/net/dev"], None, "denied ENOENT"),
        "shutdown": (["reboot-probe"], "denied EINVAL", "denied EPERM"),
        "time-control": (["settime"], "ok", "denied EPERM"),
    }


def run_probes(e, plugs, extra=()):
    argv = []
    table = probes(e)
    for name, (a, _, _) in table.items():
        argv += (["--next"] if argv else []) + [str(x) for x in a]
    p = confine(e, *argv, plugs=plugs, extra=extra)
    lines = p.stdout.splitlines()
    assert len(lines) == len(table), p.stdout + p.stderr
    return {name: line.split(": ", 1)[1] for name, line in zip(table, lines)}, p


INTERFACES = ["network", "network-bind", "home", "removable-media", "serial-port", "gpio", "i2c", "spi",
              "camera", "audio-playback", "hardware-observe", "system-observe", "log-observe",
              "mount-observe", "network-observe", "shutdown", "time-control"]


@pytest.fixture(scope="module", params=["host", "debian-12"])
def root(request, tmp_path_factory):
    """The sandbox's root: the host's (no options) or a debian-12 base
    (--base, the image mounted as ferryd mounts it)."""
    if request.param == "host":
        yield []
        return
    path = os.path.join(baselib.cache_dir(tmp_path_factory), "debian-12.ferry")
    why = baselib.unavailable(path)
    if why:
        pytest.skip(why)
    path = baselib.image(tmp_path_factory, "debian-12", "bookworm")
    assert os.path.exists(path), "ferry base build debian-12 failed"
    with baselib.mounted(path, tmp_path_factory.mktemp("root") / "base") as mnt:
        yield ["--base", str(mnt)]


def test_without_plugs_every_interface_is_denied(env, root):
    got, _ = run_probes(env, [], root)
    for name, (_, _, denied) in probes(env).items():
        if name == "network-bind" and landlock_abi() < 4:
            continue
        assert got[name] == denied, (name, got[name])


# network-bind shares the host's network namespace, so an outgoing connection
# to the host is not refused by an empty namespace but denied by Landlock
SAME_NETWORK_DENIALS = {("network-bind", "network"): "denied EACCES"}


@pytest.mark.parametrize("iface", INTERFACES)
def test_interface_grants_what_it_says_and_nothing_more(env, root, iface):
    if iface == "network-bind" and landlock_abi() < 4:
        pytest.skip("Landlock ABI 4 (TCP rules) not in this kernel: bind is not restricted")
    got, _ = run_probes(env, [iface], root)
    for name, (_, granted, denied) in probes(env).items():
        if name == "network-bind" and landlock_abi() < 4:
            continue
        if name == iface:
            if granted is None:
                assert got[name].startswith("ok"), (name, got[name])
            else:
                assert got[name] == granted, (name, got[name])
        else:
            expected = SAME_NETWORK_DENIALS.get((iface, name), denied)
            assert got[name] == expected, (f"{iface} also granted {name}", got[name])


def test_every_interface_on_a_base_shows_the_base_not_the_host(env, root):
    """With all 17 plugs, the host's /usr, /var, /opt and /etc/passwd stay
    out of a based sandbox: those of the base show (the base's /bin/sh runs
    the checks); what the plugs grant of the host is still there."""
    if not root:
        pytest.skip("on the host's root the host's /usr is the sandbox's")
    mnt = root[1]
    tag = f"ferry-test-base-{os.getpid()}"
    markers = [f"/opt/{tag}", f"/usr/local/share/{tag}", f"/var/lib/{tag}"]
    for m in markers:
        with open(m, "w") as f:
            f.write("host\n")
    script = (f"for m in {' '.join(markers)}; do test -e $m && echo visible $m; done; "
              "echo passwd=$(md5sum < /etc/passwd | cut -c1-32); "
              "echo status=$(grep -c '^Package:' /var/lib/dpkg/status); "
              "cat /etc/debian_version; test -e /usr/bin/gcc && echo visible gcc; "
              f"test -r {env.log} && echo log; test -d /run/host/proc/1 && echo host-proc")
    try:
        p = subprocess.run(base_args(env, INTERFACES, root) + ["--", "/bin/sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
    finally:
        for m in markers:
            os.unlink(m)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert not [ln for ln in out if ln.startswith("visible")], out
    with open(os.path.join(mnt, "etc/passwd"), "rb") as f:
        assert f"passwd={hashlib.md5(f.read()).hexdigest()}" in out
    with open(os.path.join(mnt, "var/lib/dpkg/status")) as f:
        assert f"status={sum(1 for ln in f if ln.startswith('Package:'))}" in out
    with open(os.path.join(mnt, "etc/debian_version")) as f:
        assert f.read().strip() in out
    assert "log" in out and "host-proc" in out  # log-observe, system-observe


def test_interface_groups_and_capabilities(env):
    assert attempt(env, "groups", plugs=["serial-port"])[0] == "ok 20"
    assert attempt(env, "groups")[0] == "ok "
    # CAP_SYS_TIME is bit 25, CAP_SYS_BOOT bit 22
    caps = attempt(env, "caps", plugs=["time-control"])[0]
    assert "eff=0000000002000000" in caps and "bnd=0000000002000000" in caps and "amb=0000000002000000" in caps
    caps = attempt(env, "caps", plugs=["shutdown"])[0]
    assert "eff=0000000000400000" in caps
    # syslog(2) passes the filter; the kernel then asks for CAP_SYSLOG where
    # kernel.dmesg_restrict is 1, which ferry does not hand out
    out, p = attempt(env, "syslog", plugs=["log-observe"])
    assert "denied by seccomp" not in p.stderr
    restricted = open("/proc/sys/kernel/dmesg_restrict").read().strip() == "1"
    assert out == ("denied EPERM" if restricted else "ok")
    assert "4" in attempt(env, "groups", plugs=["log-observe"])[0].split()[-1].split(",")


def test_home_does_not_grant_root(env):
    assert attempt(env, "list", "/root", plugs=["home"])[0] == "denied ENOENT"


def test_shutdown_request_is_reported(env):
    r, w = os.pipe()
    p = subprocess.run(base_args(env, plugs=["shutdown"], extra=["--status-fd", str(w)]) +
                       ["--", "bin/escape", "reboot"], capture_output=True, text=True, pass_fds=[w], timeout=60)
    os.close(w)
    status = os.read(r, 1024).decode()
    os.close(r)
    assert p.returncode == 0, p.stderr
    assert status == "reboot restart\n"


def test_docs_interfaces_table_matches_the_code():
    table = subprocess.run([binary("ferry-confine"), "--list-interfaces"], capture_output=True, text=True,
                           check=True).stdout
    doc = open(os.path.join(TOP, "docs/interfaces.md")).read()
    m = re.search(r"<!-- BEGIN interfaces table -->\n(.*?)<!-- END interfaces table -->", doc, re.S)
    assert m, "docs/interfaces.md has no generated table"
    assert m.group(1) == table, ("docs/interfaces.md is out of date: regenerate the table with "
                                 "`ferry-confine --list-interfaces`")


# ---- devmode, the contract, unprivileged use ---------------------------------

def test_devmode_reports_instead_of_denying(env):
    out, p = attempt(env, "personality", extra=["--devmode"])
    assert out == "ok"
    # ferry-init reports the call the rule would have denied, and lets it run
    assert re.search(r'ferry-confine\[1\]: warn: demo\.app: pid \d+ \(escape\): personality\(2\) '
                     r'with a flag that weakens ASLR would be denied by seccomp rule "personality" '
                     r'\(.*\); allowed \(devmode\)', p.stderr), p.stderr
    # Landlock and the mount namespace are not relaxed
    assert attempt(env, "write", "/usr/escape", extra=["--devmode"])[0] == "denied EROFS"
    assert attempt(env, "list", "/root", extra=["--devmode"])[0] == "denied ENOENT"


# what a sandbox start must not load: the image reader's and the publisher
# verbs' libraries (ferry runs ferry-confine's code in-process for ferry run)
NOT_AT_START = ("libsquashfs", "liblzma", "libz.", "liblz4", "libzstd", "libcrypto",
                "libcurl")


@pytest.mark.parametrize("program", ["ferry-confine", "ferry"])
def test_sandbox_start_links_only_what_it_needs(program):
    p = subprocess.run(["readelf", "-d", binary(program)], capture_output=True, text=True,
                       check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", p.stdout)
    assert needed and not [n for n in needed if n.startswith(NOT_AT_START)], needed


def test_exit_status_and_status_line(env):
    def run(*a):
        r, w = os.pipe()
        p = subprocess.run(base_args(env, extra=["--status-fd", str(w)]) + ["--", *a],
                           capture_output=True, text=True, pass_fds=[w])
        os.close(w)
        s = os.read(r, 1024).decode()
        os.close(r)
        return p, s
    p, s = run("bin/escape", "exit", "3")
    assert (p.returncode, s) == (3, "exited 3\n")
    p, s = run("bin/escape", "signal", "15")
    assert (p.returncode, s) == (143, "killed 15\n")
    p, s = run("bin/nothing")
    assert p.returncode == 127
    assert s == "failed cannot execute /ferry/demo/current/bin/nothing: No such file or directory\n"
    assert "demo.app: cannot execute /ferry/demo/current/bin/nothing" in p.stderr


def test_environment_and_working_directory(env):
    p = confine(env, "env", "--next", "cwd", extra=["--env", "GREETING=hello"],
                env={"LD_PRELOAD": "/nonexistent.so", "SECRET": "x"})
    lines = p.stdout.splitlines()
    assert "FERRY=/ferry/demo/current" in lines
    assert "FERRY_DATA=/ferry/demo/data" in lines
    assert "FERRY_COMMON=/ferry/demo/common" in lines
    assert "FERRY_REVISION=1" in lines
    assert "HOME=/ferry/demo/data" in lines
    assert "GREETING=hello" in lines
    assert not any(l.startswith(("LD_PRELOAD=", "SECRET=")) for l in lines)
    assert "cwd: ok /ferry/demo/data" in lines


@pytest.mark.parametrize("args,message", [
    (["--uid", "0"], "an app never runs as root"),
    (["--plug", "netwrok"], 'no such interface; did you mean "network"?'),
    (["--memory", "lots"], '--memory "lots": expected a size such as 256M'),
    (["--data", "../escape"], '--data "../escape": expected an absolute path'),
])
def test_bad_options_are_usage_errors(env, args, message):
    p = subprocess.run(base_args(env) + args + ["--", "bin/escape", "whoami"], capture_output=True, text=True)
    assert p.returncode == 2
    assert message in p.stderr
    assert p.stdout == ""


def test_missing_package_dir_fails_setup(env):
    args = base_args(env)
    args[args.index("--pkg-dir") + 1] = "/var/lib/ferry-test-missing/pkg"
    p = subprocess.run(args + ["--", "bin/escape", "whoami"], capture_output=True, text=True)
    assert p.returncode == 125
    assert "mount namespace: /var/lib/ferry-test-missing/pkg: No such file or directory" in p.stderr


def test_dry_run_prints_the_plan(env):
    p = subprocess.run(base_args(env, plugs=["home"]) + ["--dry-run", "--", "bin/escape"],
                       capture_output=True, text=True, check=True)
    assert f"mount bind-ro     /ferry/demo/current <- {env.pkg}" in p.stdout
    assert "mount bind-rw     /home <- /home (if present)" in p.stdout
    assert f"mount hide        {env.state}" in p.stdout
    assert "seccomp mount denied" in p.stdout
    assert "network loopback only" in p.stdout


def test_unprivileged_development_mode(env):
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="ferry-test-dev-", dir="/var/tmp")
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    try:
        p = subprocess.run([binary("ferry-confine"), "--name", "demo", "--app", "app", "--revision", "1",
                            "--pkg-dir", env.pkg, "--data", d, "--common", d, "--log-level", "info",
                            "--", "bin/escape", "whoami", "--next", "write", "/usr/escape", "--next", "ps",
                            "--next", "mount", "--next", "write", "/ferry/demo/data/f",
                            "--next", "list", "/proc/1/fd", "--next", "read", "/proc/1/environ"],
                           capture_output=True, text=True, user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[], timeout=60)
        if "unprivileged user namespaces" in p.stderr:
            pytest.skip("this kernel refuses unprivileged user namespaces")
        assert p.returncode == 0, p.stderr
        assert "not running as root: using a user namespace" in p.stderr
        lines = p.stdout.splitlines()
        assert lines[0].startswith(f"whoami: ok uid={nobody.pw_uid} euid={nobody.pw_uid}")
        # ferry-init has the app's uid here: only not being dumpable keeps its
        # descriptors and memory out of the app's reach
        assert lines[1:] == ["write: denied EROFS", "ps: ok 1,2", "mount: denied EPERM", "write: ok",
                             "list: denied EACCES", "read: denied EACCES"]
        p = subprocess.run([binary("ferry-confine"), "--name", "demo", "--app", "app", "--revision", "1",
                            "--pkg-dir", env.pkg, "--data", d, "--common", d, "--uid", "5000",
                            "--", "bin/escape", "whoami"], capture_output=True, text=True,
                           user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
        assert p.returncode == 2
        assert "--uid 5000: not running as root, the app can only run as your own uid" in p.stderr
    finally:
        shutil.rmtree(d)


# ---- descriptors: nothing the caller had open reaches the sandbox ----------

def confine_sh(e, script, redirects, extra=()):
    """Run /bin/sh -c SCRIPT confined, ferry-confine started with the shell
    redirections REDIRECTS (say "7<FILE") open, as `ferry run X 7<FILE` would."""
    cmd = base_args(e, extra=extra) + ["--", "/bin/sh", "-c", script]
    return subprocess.run(["/bin/sh", "-c", 'exec "$@" ' + redirects, "sh", *cmd],
                          capture_output=True, text=True, timeout=60)


def test_inherited_descriptors_do_not_reach_the_app(env):
    secret = os.path.join(env.root, "root-only")
    with open(secret, "w") as f:
        f.write("root's secret\n")
    os.chmod(secret, 0o600)
    status = os.path.join(env.root, "status")
    try:
        p = confine_sh(env, 'cat <&7; echo "exited 0" >&8; ls /proc/self/fd; exit 3',
                       f'7<"{secret}" 8>"{status}"', extra=["--status-fd", "8"])
        assert p.returncode == 3, p.stderr
        assert "root's secret" not in p.stdout
        # ls itself has its directory open as 3: nothing else above 2
        assert set(p.stdout.split()) <= {"0", "1", "2", "3"}, p.stdout
        # the app cannot forge the status line the caller trusts
        assert open(status).read() == "exited 3\n"
    finally:
        os.unlink(secret)
        if os.path.exists(status):
            os.unlink(status)


def test_log_fd_carries_only_ferry_confine_lines(env):
    log = os.path.join(env.root, "confine.log")
    forged = 'ferry-confine[1]: warning: demo.app: pid 2 (x): FORGED(2) denied by seccomp rule "x"'
    try:
        p = confine_sh(env, f"echo '{forged}'; echo '{forged}' >&2; echo '{forged}' >&9; "
                       "exec /ferry/demo/current/bin/escape ptrace 1", f'9>"{log}"',
                       extra=["--log-fd", "9"])
        assert outcome(p, "ptrace") == "denied EPERM"
        text = open(log).read()
        assert 'demo.app: pid 2 (escape): ptrace(2) denied by seccomp rule "ptrace"' in text
        assert "FORGED" not in text, text
        # the app's own output is the app's: ferry-confine's lines are not in it
        assert "denied by seccomp rule \"ptrace\"" not in p.stdout + p.stderr
    finally:
        if os.path.exists(log):
            os.unlink(log)


def test_killing_the_monitor_ends_the_sandbox(env):
    p = subprocess.Popen(base_args(env) + ["--", "bin/escape", "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("wait: ready")
    children = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
    assert len(children) == 1
    init = int(children[0])
    os.kill(p.pid, 9)
    p.wait()
    for _ in range(100):
        if not os.path.exists(f"/proc/{init}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{init}"), "ferry-init outlived its monitor"
    p.stdin.close()


def test_sigterm_to_the_monitor_reaches_the_app(env):
    p = subprocess.Popen(base_args(env) + ["--", "bin/escape", "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("wait: ready")
    p.terminate()
    assert p.wait(timeout=30) == 128 + 15
    p.stdin.close()


@pytest.mark.skipif(not shutil.which("mksquashfs"), reason="needs squashfs-tools")
def test_package_from_a_loop_mounted_squashfs_image(env):
    # the real case on a device: the revision is a read-only squashfs image
    image = os.path.join(env.root, "demo_1.squashfs")
    mnt = tempfile.mkdtemp(prefix="ferry-test-mnt-", dir="/var/lib")
    subprocess.run(["mksquashfs", env.pkg, image, "-quiet", "-noappend", "-all-root"], check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", image, mnt], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(mnt)
        pytest.skip(f"cannot loop-mount here: {r.stderr.strip()}")
    try:
        args = base_args(env)
        args[args.index("--pkg-dir") + 1] = mnt
        p = subprocess.run(args + ["--", "bin/escape", "whoami", "--next", "write", SANDBOX_PKG + "/x",
                                   "--next", "setuid-exec", SANDBOX_PKG + "/bin/escape-suid"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[0].startswith(f"whoami: ok uid={UID}")
        assert lines[1] == "write: denied EROFS"
        assert lines[2] == f"raise-uid: denied EPERM euid={UID}"
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_nothing_of_the_app_outlives_ferry_confine(env):
    # the app forks children that would sleep forever, then exits
    out, _ = attempt(env, "forkbomb", 3)
    assert out == "ok made 3"
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = os.stat(f"/proc/{pid}")
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        if st.st_uid == UID and comm == "escape":
            left.append(pid)
    assert left == []


@pytest.mark.parametrize("data", ["/etc", "symlink"])
def test_data_directory_must_be_the_packages_own(env, data):
    # a package that swapped its data directory for a symlink, or an agent
    # mistake, must not get another directory writable
    if data == "symlink":
        data = os.path.join(env.state, "data/demo/2")
        os.symlink("/etc", data)
    args = base_args(env)
    args[args.index("--data") + 1] = data
    p = subprocess.run(args + ["--", "bin/escape", "whoami"], capture_output=True, text=True)
    assert p.returncode == 125
    assert f"{data}: must be a directory owned by the package's uid {UID}" in p.stderr


def test_device_symlink_is_not_followed(env):
    link = "/dev/ttyUSB96"
    os.symlink("/dev/zero", link)
    try:
        out, p = attempt(env, "stat", link, plugs=["serial-port"])
        assert out == "denied ENOENT"
        assert "/dev/ttyUSB96: not a character device; not mounted" in p.stderr
    finally:
        os.unlink(link)
