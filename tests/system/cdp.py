"""A headless Chromium driven through the DevTools protocol, for the web
console's tests: Debian's `chromium --headless` started with a private
profile, and a small WebSocket client (RFC 6455, client side only: text
frames out, masked; text, continuation, ping and close frames in) written
with the standard library. One page per Browser; the page's network
requests, console messages and exceptions are recorded for the tests to
check. Not a general driver: only what the tests use."""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class WebSocket:
    def __init__(self, url, timeout=60):
        u = urllib.parse.urlsplit(url)
        assert u.scheme == "ws" and u.hostname in ("127.0.0.1", "localhost"), url
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the connection during the handshake"
            head += chunk
        head, self.rest = head.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head.decode(errors="replace")

    def _read(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(max(65536, n - len(self.rest)))
            assert chunk, "DevTools closed the connection"
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def _send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self):
        """The next text message (fragments joined); answers pings."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:
                self._send_frame(0xA, data)
                continue
            if opcode == 0x8:
                raise EOFError("DevTools closed the WebSocket")
            if opcode in (0x1, 0x0, 0x2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Browser:
    """chromium --headless with one page attached; call() sends a DevTools
    command to the page and returns its result, keeping events in .events."""

    def __init__(self, proxy=None):
        if not os.path.exists(CHROMIUM):
            pytest.fail("chromium is not installed: run scripts/install-deps")
        self.profile = tempfile.mkdtemp(prefix="ferry-chromium-")
        args = [CHROMIUM, "--headless", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--disable-extensions",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                "--metrics-recording-only", "--disable-gpu", "--window-size=1200,900",
                "--hide-scrollbars", "about:blank"]
        if proxy:
            # anything not for the loopback goes to the test's recorder
            args.append(f"--proxy-server=http://{proxy}")
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium's sandbox refuses root
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file) or len(open(port_file).read().split()) < 2:
            assert self.proc.poll() is None, "chromium exited: " + self.chromium_log()
            assert time.monotonic() < deadline, "chromium did not open DevTools"
            time.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        self.ws = WebSocket(f"ws://127.0.0.1:{port}{path}")
        self.next_id = 0
        self.events = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank", browser=True)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True,
                                 browser=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def chromium_log(self):
        with open(os.path.join(self.profile, "chromium.log")) as f:
            return f.read()[-4000:]

    def call(self, method, browser=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session and not browser:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next_id:
                assert "error" not in m, f"{method}: {m['error']}"
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def pump(self):
        """Collect the events that arrived meanwhile."""
        self.call("Runtime.evaluate", expression="0")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        assert "exceptionDetails" not in r, f"{expression}: {r['exceptionDetails']}"
        return r["result"].get("value")

    def wait_for(self, what, expression, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            v = self.evaluate(f"!!({expression})")
            if v:
                return v
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text}")
            time.sleep(0.1)

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def key(self, key, code=None, vk=0, text=None, shift=False):
        """One key press (down and up), as a keyboard would send it."""
        mods = 8 if shift else 0
        base = {"key": key, "code": code or key, "windowsVirtualKeyCode": vk, "modifiers": mods}
        down = dict(base, type="keyDown")
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", **dict(base, type="keyUp"))

    def tab(self, shift=False):
        self.key("Tab", vk=9, shift=shift)

    def enter(self):
        self.key("Enter", vk=13, text="\r")

    def type_text(self, text):
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        return path

    def requests(self):
        self.pump()
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def responses(self):
        self.pump()
        return [e["params"]["response"] for e in self.events
                if e["method"] == "Network.responseReceived"]

    def problems(self):
        """Console errors, CSP violations, uncaught exceptions; not HTTP
        errors the page expects and handles (source "network")."""
        self.pump()
        out = []
        for e in self.events:
            p = e["params"]
            if (e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning")
                    and p["entry"]["source"] != "network"):
                out.append(p["entry"].get("url", "") + ": " + p["entry"]["text"])
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning"):
                out.append(json.dumps(p["args"])[:500])
        return out

    def close(self):
        try:
            self.call("Browser.close", browser=True)
        except (AssertionError, EOFError, OSError):
            pass
        self.ws.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
