"""Churn: hundreds of connect / authenticate / view / disconnect cycles over
VNC, RDP and the web front end's console, with abrupt ends mid-handshake,
mid-TLS and mid-frame, and admin kicks and takeovers (the same user logging
in again) mixed in. Afterwards vmgated's descriptors and threads are back to
what they were before, its resident memory within a small margin, and (in
a sanitizer build) its log holds no report.

VMGATE_CHURN_CYCLES sets the cycles per protocol (default 200, the CI
variant; tests/reliability/run runs 1,000), VMGATE_CHURN_PROTOCOLS which
(default VNC,RDP,web). Each phase is bounded in time
too (VMGATE_CHURN_SECONDS per protocol, default 240). The figures are
printed on a line starting with CHURN-FIGURES (JSON), which
tests/reliability/run reads. Run with /usr/bin/python3."""

import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time

import rdpwire
import rfblogin
import websocket
from bridge import BUILD, SHOT
from test_rdp import RdpGateway
from test_web import Client
from vgtest import Guest, fail, run_tests

CYCLES = int(os.environ.get("VMGATE_CHURN_CYCLES", "200"))
PHASE_SECONDS = float(os.environ.get("VMGATE_CHURN_SECONDS", "240"))
# Which front ends to churn (tests/reliability/run runs one at a time, to
# hold the shared integration lock for shorter stretches).
PROTOCOLS = os.environ.get("VMGATE_CHURN_PROTOCOLS", "VNC,RDP,web").split(",")
PROGRESS = int(os.environ.get("VMGATE_CHURN_PROGRESS", "100"))  # print counts every N cycles

# Tolerances of the return to baseline, after the settle wait (see
# wait_baseline): descriptors and threads come back exactly; resident
# memory may keep what glibc's allocator holds on to (freed memory in its
# arenas, not returned to the system, and pages touched once by a peak of
# concurrent connections).
RSS_SLACK_KIB = 8 * 1024
SETTLE_SECONDS = 30


def sanitizer_build():
    """vmgated built with ASan: its allocator holds freed memory in a
    quarantine (up to 256 MiB), so resident memory says nothing about
    leaks there; LeakSanitizer checks at exit instead."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return any(l.strip() == "VMGATE_SANITIZE:BOOL=ON" for l in f)
    except OSError:
        return False


CHECK_RSS = not sanitizer_build()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def counts(pid):
    """(descriptors, threads, resident KiB) of vmgated."""
    return (len(os.listdir("/proc/%d/fd" % pid)), len(os.listdir("/proc/%d/task" % pid)),
            rss_kib(pid))


class Sampler:
    """Samples vmgated's counts every 20 ms in a thread: the peaks."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = counts(pid)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.02):
            try:
                now = counts(self.pid)
            except OSError:
                return
            self.peak = tuple(max(a, b) for a, b in zip(self.peak, now))

    def finish(self):
        self.stop.set()
        self.thread.join()
        return self.peak


def abort(s):
    """Close with a TCP reset (SO_LINGER 0): an abrupt end."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def hello_bytes():
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def mid_tls(s, v):
    """Abandon a TLS handshake: half a ClientHello, or (odd @v) a whole one
    and the start of the server's answer."""
    hello = hello_bytes()
    if v % 2 == 0:
        s.sendall(hello[:len(hello) // 2])
    else:
        s.sendall(hello)
        s.settimeout(10)
        if not s.recv(1):
            fail("the server closed the connection at the ClientHello")
    abort(s)


def wait_closed(s, what, timeout=15):
    """Read until the server ends the connection (EOF, reset or TLS close)."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return
    except (ConnectionError, ssl.SSLError):
        return
    except socket.timeout:
        pass
    fail("%s: the connection was not ended within %ss" % (what, timeout))


# -- VNC ----------------------------------------------------------------------

def vnc_login(gw, user="alice"):
    t, w, h = rfblogin.login("127.0.0.1", gw.d.vnc_port, user, gw.pw[user], gw.ca)
    t.sendall(struct.pack(">BBHi", 2, 0, 1, 0))  # SetEncodings: Raw only
    return t, w, h


def rfb_request(t, w, h):
    t.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))


def rfb_read_update(t, limit=None):
    """Read one FramebufferUpdate (Raw rectangles, 32 bpp); with @limit, stop
    after that many bytes of pixels."""
    while True:
        head = rfblogin.recv_exact(t, 1)[0]
        if head == 0:
            break
        if head == 2:  # Bell
            continue
        fail("unexpected RFB message type %d before the update" % head)
    _, n = struct.unpack(">BH", rfblogin.recv_exact(t, 3))
    got = 0
    for _ in range(n):
        x, y, rw, rh, enc = struct.unpack(">HHHHi", rfblogin.recv_exact(t, 12))
        if enc != 0:
            fail("rectangle with encoding %d (only Raw was asked for)" % enc)
        size = rw * rh * 4
        while size:
            chunk = t.recv(min(size, 65536))
            if not chunk:
                raise ConnectionError("the server closed the connection mid-frame")
            size -= len(chunk)
            got += len(chunk)
            if limit is not None and got >= limit:
                return got
    return got


def viewers_of(gw, user):
    data = json.loads(gw.d.ok("session", "list", json_out=True))
    items = data if isinstance(data, list) else data.get("sessions", [])
    return [(s["id"], v["id"]) for s in items for v in s.get("viewers", [])
            if v.get("user") == user]


def wait_viewers(gw, user, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        v = viewers_of(gw, user)
        if len(v) == n:
            return v
        if time.monotonic() > deadline:
            fail("%s has %d viewers, not %d, after %ss" % (user, len(v), n, timeout))
        time.sleep(0.02)


def vnc_cycle(gw, i):
    kind = VNC_KINDS[i % len(VNC_KINDS)]
    v = i // len(VNC_KINDS)  # the variant of an abrupt end: each in turn
    port = gw.d.vnc_port
    if kind == "view":
        t, w, h = vnc_login(gw)
        rfb_request(t, w, h)
        rfb_read_update(t)
        t.close()
    elif kind == "mid-handshake":
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if v % 3 == 0:
            abort(s)  # before even the greeting
            return kind
        rfblogin.recv_exact(s, 12)
        s.sendall(b"RFB 003.008\n")
        if v % 3 == 1:
            rfblogin.recv_exact(s, 1)
            s.sendall(b"\x13")  # VeNCrypt, then nothing
        abort(s)
    elif kind == "mid-tls":
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        rfblogin.choose_x509plain(s)
        mid_tls(s, v)
    elif kind == "mid-auth":
        # TLS done, then half of the Plain credentials.
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        rfblogin.choose_x509plain(s)
        ctx = ssl.create_default_context(cafile=gw.ca)
        t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(struct.pack(">II", 5, 30) + b"ali")
        abort(t)
    elif kind == "mid-frame":
        t, w, h = vnc_login(gw)
        rfb_request(t, w, h)
        rfb_read_update(t, limit=64 * 1024)
        abort(t)
    elif kind == "kick":
        t, w, h = vnc_login(gw)
        rfb_request(t, w, h)
        sid, _ = wait_viewers(gw, "alice", 1)[0]
        gw.d.ok("session", "kick", sid, "--reason", "churn")
        wait_closed(t, "a kicked VNC viewer")
        t.close()
    elif kind == "takeover":
        old, w, h = vnc_login(gw)
        rfb_request(old, w, h)
        new, w, h = vnc_login(gw)
        wait_closed(old, "a taken-over VNC viewer")
        old.close()
        rfb_request(new, w, h)
        rfb_read_update(new, limit=1)
        new.close()
    return kind


VNC_KINDS = ("view", "mid-handshake", "mid-frame", "view", "mid-tls", "kick", "view",
             "mid-auth", "takeover", "mid-frame")


# -- RDP ----------------------------------------------------------------------

def rdp_viewer(gw, out="churn-rdp.png"):
    """vmgate-shot over RDP as alice that stays connected (exit 4 when the
    connection ends)."""
    return subprocess.Popen([SHOT] + gw.rdp_args("alice", os.path.join(gw.root, out),
                                                 "--wait-stable", "100000", "--timeout", "60"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_exit(p, what, want=None, timeout=30):
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("%s: still running after %ss" % (what, timeout))
    err = p.stderr.read()
    p.stderr.close()
    if want is not None and rc != want:
        fail("%s: exit %d, want %d: %s" % (what, rc, want, err.strip()))
    return rc


def rdp_cycle(gw, i):
    kind = RDP_KINDS[i % len(RDP_KINDS)]
    v = i // len(RDP_KINDS) * 2 + (i % len(RDP_KINDS) > 6)  # kinds come twice a round
    port = gw.d.rdp_port
    both = rdpwire.PROTOCOL_SSL | rdpwire.PROTOCOL_HYBRID
    if kind == "view":
        p = subprocess.Popen([SHOT] + gw.rdp_args("alice", os.path.join(gw.root, "rdp.png"),
                                                  "--timeout", "30"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_exit(p, "an RDP login to the first frame", want=0, timeout=40)
    elif kind == "mid-handshake":
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        req = rdpwire.x224_request(both)
        if v % 3 == 0:
            s.sendall(req[:len(req) // 2])
        elif v % 3 == 1:
            s.sendall(rdpwire.pcb_bytes(blob=gw.g1.name))
        abort(s)
    elif kind == "mid-tls":
        r = rdpwire.x224_connect("127.0.0.1", port, both)
        if r == rdpwire.CLOSED:
            fail("the RDP port closed the connection at the X.224 request")
        mid_tls(r[0], v)
    elif kind == "mid-nla":
        # FreeRDP's client killed at some point of its TLS, CredSSP and
        # capability exchange (0 to 490 ms after its start).
        p = rdp_viewer(gw)
        time.sleep((v * 37 % 50) / 100.0)
        p.kill()
        wait_exit(p, "a killed RDP viewer")
        wait_viewers(gw, "alice", 0)
    elif kind == "mid-frame":
        p = rdp_viewer(gw)
        wait_viewers(gw, "alice", 1)
        p.kill()
        wait_exit(p, "a killed RDP viewer")
        wait_viewers(gw, "alice", 0)
    elif kind == "kick":
        p = rdp_viewer(gw)
        sid, _ = wait_viewers(gw, "alice", 1)[0]
        gw.d.ok("session", "kick", sid, "--reason", "churn")
        wait_exit(p, "a kicked RDP viewer", want=4)
    elif kind == "takeover":
        old = rdp_viewer(gw, "old.png")
        wait_viewers(gw, "alice", 1)
        new = rdp_viewer(gw, "new.png")
        wait_exit(old, "a taken-over RDP viewer", want=4)
        wait_viewers(gw, "alice", 1)
        new.kill()
        wait_exit(new, "the viewer that took over")
    return kind


RDP_KINDS = ("view", "mid-handshake", "mid-frame", "mid-tls", "kick", "view", "mid-nla",
             "takeover", "mid-tls", "mid-frame", "mid-handshake", "mid-nla")


# -- web ----------------------------------------------------------------------

class WsStream:
    """The console's RFB byte stream over a WebSocket's binary messages,
    with recv and sendall as rfblogin and rfb_read_update use them."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""

    def recv(self, n):
        if not self.buf:
            op, data = self.ws.recv_data()
            if op == websocket.ABNF.OPCODE_CLOSE:
                return b""
            self.buf = data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def sendall(self, data):
        self.ws.send(data, websocket.ABNF.OPCODE_BINARY)


def web_rfb_login(ws):
    """RFB 3.8 on a console whose user the web session already proved:
    security type None, then ClientInit; returns (stream, width, height)."""
    s = WsStream(ws)
    if rfblogin.recv_exact(s, 12) != b"RFB 003.008\n":
        fail("no RFB greeting on the web console")
    s.sendall(b"RFB 003.008\n")
    types = rfblogin.recv_exact(s, rfblogin.recv_exact(s, 1)[0])
    if 1 not in types:
        fail("the web console offers security types %r, not None" % list(types))
    s.sendall(b"\x01")
    if rfblogin.recv_exact(s, 4) != b"\0\0\0\0":
        fail("the web console refused security type None")
    s.sendall(b"\x01")
    w, h = struct.unpack(">HH", rfblogin.recv_exact(s, 4))
    rfblogin.recv_exact(s, 16)
    rfblogin.recv_exact(s, struct.unpack(">I", rfblogin.recv_exact(s, 4))[0])
    s.sendall(struct.pack(">BBHi", 2, 0, 1, 0))  # SetEncodings: Raw only
    return s, w, h


class WebChurn:
    def __init__(self, gw):
        self.gw = gw
        self.client = None

    def logged_in(self):
        if self.client is None:
            c = Client(self.gw)
            status, data = c.login("alice", self.gw.pw["alice"])
            if status != 200:
                fail("web login: %d %r" % (status, data[:200]))
            self.client = c
        return self.client

    def console(self):
        c = self.logged_in()
        ticket = c.ticket(self.gw.g1.name)
        ws = c.websocket()
        ws.send(ticket)
        return ws

    def cycle(self, i):
        kind = WEB_KINDS[i % len(WEB_KINDS)]
        if kind == "view":
            ws = self.console()
            ws.settimeout(30)
            s, w, h = web_rfb_login(ws)
            rfb_request(s, w, h)
            rfb_read_update(s)
            ws.close()
        elif kind == "mid-tls":
            s = socket.create_connection(("127.0.0.1", self.gw.d.web_port), timeout=10)
            mid_tls(s, i // len(WEB_KINDS))
        elif kind == "mid-handshake":
            ws = self.console()
            ws.settimeout(30)
            ws.recv_data()  # the RFB greeting
            abort(ws.sock)
        elif kind == "mid-frame":
            ws = self.console()
            ws.settimeout(30)
            s, w, h = web_rfb_login(ws)
            rfb_request(s, w, h)
            rfb_read_update(s, limit=64 * 1024)
            abort(ws.sock)
        elif kind == "relogin":
            r, data = self.logged_in().request("POST", "/api/logout")
            if r.status not in (200, 204):
                fail("web logout: %d %r" % (r.status, data[:200]))
            self.client = None
            self.logged_in()
        return kind


WEB_KINDS = ("view", "mid-tls", "mid-frame", "view", "mid-handshake", "relogin")


# -- the test -----------------------------------------------------------------

def wait_baseline(gw, base, what):
    """Wait up to SETTLE_SECONDS for no viewer and vmgated's descriptors and
    threads back at @base and its RSS within RSS_SLACK_KIB; returns the
    counts then."""
    pid = gw.d.proc.pid
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        now = counts(pid)
        if now[0] <= base[0] and now[1] <= base[1] and \
                (not CHECK_RSS or now[2] <= base[2] + RSS_SLACK_KIB) and not viewers_of(gw, "alice"):
            return now
        if time.monotonic() > deadline:
            fail("after %s vmgated has %d descriptors, %d threads and %d KiB resident; "
                 "%d, %d and %d KiB before" % (what, *now, *base))
        time.sleep(0.2)


def phase(gw, name, cycle, kind_names, base):
    pid = gw.d.proc.pid
    sampler = Sampler(pid)
    kinds = {}
    t0 = time.monotonic()
    done = 0
    try:
        for i in range(CYCLES):
            if time.monotonic() - t0 > PHASE_SECONDS:
                fail("%s: only %d of %d cycles within %ss" % (name, i, CYCLES, PHASE_SECONDS))
            if gw.d.proc.poll() is not None:
                fail("vmgated exited during %s churn (cycle %d)" % (name, i))
            try:
                k = cycle(i)
            except Exception as e:
                raise AssertionError("%s cycle %d (%s): %s: %s" % (
                    name, i, kind_names[i % len(kind_names)], type(e).__name__, e)) from e
            kinds[k] = kinds.get(k, 0) + 1
            done += 1
            if PROGRESS and done % PROGRESS == 0:
                print("    %s %d cycles, %.1fs: %d fds, %d threads, %d KiB" %
                      (name, done, time.monotonic() - t0, *counts(pid)), flush=True)
    finally:
        peak = sampler.finish()
    seconds = time.monotonic() - t0
    end = wait_baseline(gw, base, "%d %s cycles" % (done, name))
    fig = {"protocol": name, "cycles": done, "seconds": round(seconds, 1), "kinds": kinds,
           "fds": [base[0], peak[0], end[0]], "threads": [base[1], peak[1], end[1]],
           "rss_kib": [base[2], peak[2], end[2]]}
    print("  %s: %d cycles in %.1fs (%s); fds %d/%d/%d, threads %d/%d/%d, "
          "RSS %d/%d/%d KiB (baseline/peak/end)" %
          (name, done, seconds, ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
           *fig["fds"], *fig["threads"], *fig["rss_kib"]), flush=True)
    return fig


def count_reports(d):
    try:
        with open(d.log, errors="replace") as f:
            return sum(1 for line in f if d.SANITIZER_REPORT.search(line))
    except OSError:
        return 0


def test_churn_returns_to_baseline():
    with Guest(run="counter,--fps,10") as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_serial(r"^VMGATE-WORK-STARTED counter$", timeout=90)
        web = WebChurn(gw)
        # Warm up: one login on each front end (pools and libraries start on
        # first use), then the baseline with no one connected.
        vnc_cycle(gw, 0)
        rdp_cycle(gw, 0)
        web.cycle(0)
        wait_viewers(gw, "alice", 0)
        base = counts(gw.d.proc.pid)
        figures = []
        for name, cycle, kinds in (("VNC", lambda i: vnc_cycle(gw, i), VNC_KINDS),
                                   ("RDP", lambda i: rdp_cycle(gw, i), RDP_KINDS),
                                   ("web", web.cycle, WEB_KINDS)):
            if name in PROTOCOLS:
                figures.append(phase(gw, name, cycle, kinds, base))
        # A clean stop, so that a sanitizer build reports leaks too; the
        # gateway's exit then fails the test on any report.
        rc = gw.d.stop()
        if rc != 0:
            fail("vmgated exited with status %s when stopped; log: %s" % (rc, gw.d.log_tail()))
        print("CHURN-FIGURES " + json.dumps({"phases": figures, "rss_checked": CHECK_RSS,
                                             "sanitizer_reports": count_reports(gw.d)}),
              flush=True)


if __name__ == "__main__":
    run_tests([test_churn_returns_to_baseline])
