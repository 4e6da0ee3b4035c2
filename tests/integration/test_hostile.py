"""Hostile clients against every port vmgated opens (VNC, RDP, the web, the
admin socket): random and truncated bytes before authentication, malformed
TLS handshakes, oversized and negative lengths in the messages vmgate
parses, and a connection flood during which a real user still logs in. The
daemon must survive all of it, end each hostile connection by itself
(within the login deadline), and come back to the threads and descriptors
it had. The slow-loris and the viewer that stops reading have their own
tests (test_sockets.py; test_vnc.py and test_rdp.py's stall tests); the web
port's HTTP and WebSocket specifics are in test_web.py.

Prints the number of hostile inputs tried per kind. Run with /usr/bin/python3."""

import os
import random
import socket
import ssl
import struct
import threading
import time

import rdpwire
import rfblogin
import test_web
from test_sockets import daemon_counts, rdp_login, wait_back_to
from test_vnc import Gateway
from vgtest import Guest, fail, run_tests

# A short login deadline: connections left open end sooner.
LIMITS = "[limits]\nlogin_timeout = 3\nlogins_per_address = 4\n"
DEADLINE = 3 + 5  # the login deadline, and slack for a loaded machine

rng = random.Random(os.environ.get("VMGATE_HOSTILE_SEED", "vmgate"))


def client_hello():
    """The first flight of a real TLS 1.2/1.3 client: a ClientHello."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def malformed_tls():
    """TLS first flights that are wrong in the ways parsers get wrong."""
    hello = client_hello()
    cases = {
        "record-too-long": b"\x16\x03\x01\xff\xff" + os.urandom(64),
        "record-zero-length": b"\x16\x03\x01\x00\x00",
        "not-handshake": b"\x17\x03\x03\x00\x10" + os.urandom(16),
        "handshake-length-absurd": hello[:6] + b"\xff\xff\xff" + hello[9:],
        "hello-truncated": hello[:len(hello) // 2],
        "hello-bitflips": bytes(b ^ (0x55 if i % 7 == 3 else 0) for i, b in enumerate(hello)),
        "sslv2-hello": b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + os.urandom(37),
        "http-instead": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "alert-first": b"\x15\x03\x03\x00\x02\x02\x28",
    }
    return cases


def random_inputs(n):
    out = []
    for i in range(n):
        size = rng.choice((1, 2, 3, 11, 12, 13, 64, 512, 4096, 70000))
        out.append(bytes(rng.getrandbits(8) for _ in range(size)))
    return out


def vnc_prefixes():
    """Truncated openings of a VNC client at each step of the prelude."""
    steps = [b"RFB 003.008\n", bytes([19]), b"\x00\x02", struct.pack(">I", 262)]
    out, acc = [], b""
    for s in steps:
        for cut in range(1, len(s)):
            out.append(acc + s[:cut])
        acc += s
        out.append(acc)
    return out


def rdp_prefixes():
    req = rdpwire.x224_request(rdpwire.PROTOCOL_SSL | rdpwire.PROTOCOL_HYBRID)
    return [req[:n] for n in (1, 2, 3, 4, 5, 7, 11, len(req) - 1)]


def send_and_wait_close(port, data, half_close, source="127.0.0.1", timeout=DEADLINE):
    """Send @data; half-close when asked; True once the server closed (EOF or
    reset) within @timeout. Whatever it answered is read and dropped."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            return True  # refused or reset already
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            s.settimeout(max(0.1, t_end - time.monotonic()))
            try:
                if not s.recv(65536):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return False
    finally:
        s.close()


def run_batch(port, inputs, what):
    """Each input once, in parallel batches from several source addresses
    (staying under the per-address cap); fail if any connection stays
    open past the deadline."""
    sources = ["127.0.3.%d" % i for i in range(1, 9)]
    results = [None] * len(inputs)

    def one(i, data, src):
        results[i] = send_and_wait_close(port, data, half_close=(i % 3 != 0), source=src)

    for start in range(0, len(inputs), 3 * len(sources)):
        threads = []
        for i in range(start, min(len(inputs), start + 3 * len(sources))):
            t = threading.Thread(target=one, args=(i, inputs[i], sources[i % len(sources)]))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=DEADLINE + 10)
    stuck = [i for i, r in enumerate(results) if not r]
    if stuck:
        fail("%s: %d of %d connections were not closed by the gateway within %d s "
             "(first: %r)" % (what, len(stuck), len(inputs), DEADLINE, inputs[stuck[0]][:40]))
    return len(inputs)


def real_logins(gw):
    """A real user still gets in over each port."""
    t, w, h = rfblogin.login("127.0.0.1", gw.d.vnc_port, "alice", gw.pw["alice"], gw.ca)
    t.close()
    if w < 640:
        fail("VNC login: a %dx%d screen" % (w, h))
    status, _ = test_web.Client(gw).login("alice", gw.pw["alice"])
    if status != 200:
        fail("web login: %d" % status)
    rdp_login(gw)


def wait_sessions_gone(gw, user="alice", timeout=30):
    deadline = time.monotonic() + timeout
    while user in gw.d.ok("session", "list"):
        if time.monotonic() > deadline:
            fail("%s's viewers did not leave" % user)
        time.sleep(0.2)


def test_random_truncated_and_malformed_tls_input_on_every_port():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2, LIMITS, nla=True) as gw:
        pid = gw.d.proc.pid
        real_logins(gw)
        wait_sessions_gone(gw)
        base = daemon_counts(pid)
        tried = {}
        tls_cases = malformed_tls()
        # VNC: random bytes, every truncation of the prelude, then bad TLS
        # after choosing X509Plain.
        tried["vnc random"] = run_batch(gw.d.vnc_port, random_inputs(48), "VNC random")
        tried["vnc truncated"] = run_batch(gw.d.vnc_port, vnc_prefixes(), "VNC truncated")
        prelude = b"RFB 003.008\n" + bytes([19]) + b"\x00\x02" + struct.pack(">I", 262)
        tried["vnc bad tls"] = run_batch(gw.d.vnc_port, [prelude + c for c in tls_cases.values()],
                                         "VNC malformed TLS")
        # RDP: random bytes, truncated X.224, bad TLS after X.224.
        tried["rdp random"] = run_batch(gw.d.rdp_port, random_inputs(48), "RDP random")
        tried["rdp truncated"] = run_batch(gw.d.rdp_port, rdp_prefixes(), "RDP truncated")
        n = 0
        for name, case in tls_cases.items():
            r = rdpwire.x224_connect("127.0.0.1", gw.d.rdp_port,
                                     rdpwire.PROTOCOL_SSL | rdpwire.PROTOCOL_HYBRID)
            if r == rdpwire.CLOSED:
                fail("RDP: X.224 refused before %s" % name)
            s = r[0]
            try:
                s.sendall(case)
                s.settimeout(DEADLINE)
                while s.recv(65536):
                    pass
            except socket.timeout:
                fail("RDP: %s after X.224 left the connection open" % name)
            except OSError:
                pass
            finally:
                s.close()
            n += 1
        tried["rdp bad tls"] = n
        # The web port: random bytes and bad TLS straight away.
        tried["web random"] = run_batch(gw.d.web_port, random_inputs(48), "web random")
        tried["web bad tls"] = run_batch(gw.d.web_port, list(tls_cases.values()),
                                         "web malformed TLS")
        if gw.d.proc.poll() is not None:
            fail("vmgated died")
        real_logins(gw)
        wait_sessions_gone(gw)
        wait_back_to(pid, base, "the hostile input")
        print("hostile inputs tried: %s (%d in all)" %
              (", ".join("%s %d" % kv for kv in tried.items()), sum(tried.values())))


def logged_in_vnc(gw):
    """A VNC viewer past ClientInit: (TLS socket, width, height)."""
    t, w, h = rfblogin.login("127.0.0.1", gw.d.vnc_port, "alice", gw.pw["alice"], gw.ca)
    return t, w, h


def ended_or_alive(t, timeout=DEADLINE):
    """Read what comes until the gateway closes or @timeout: 'closed' or 'open'."""
    t.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not t.recv(65536):
                return "closed"
    except socket.timeout:
        return "open"
    except (OSError, ssl.SSLError):
        return "closed"
    return "open"


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_oversized_and_negative_lengths_are_refused():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2, LIMITS, nla=True) as gw:
        pid = gw.d.proc.pid
        g1.wait_ready()
        tried = 0
        # Plain credentials with absurd lengths, over TLS: refused, no hang.
        for ulen, plen in ((0xFFFFFFFF, 1), (1, 0xFFFFFFFF), (0x80000000, 0x80000000),
                           (1 << 20, 8), (0, 0)):
            s = socket.create_connection(("127.0.0.1", gw.d.vnc_port), timeout=DEADLINE)
            rfblogin.choose_x509plain(s)
            ctx = ssl.create_default_context(cafile=gw.ca)
            t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            t.sendall(struct.pack(">II", ulen, plen) + b"x" * 64)
            if ended_or_alive(t) != "closed":
                fail("Plain lengths %#x/%#x left the connection open" % (ulen, plen))
            t.close()
            tried += 1
        # RFB messages with absurd lengths from a logged-in viewer: the
        # relay ends that viewer (or drops what it does not serve) without
        # taking memory for what the lengths claim.
        rss = vm_rss_kib(pid)
        for name, msg in (
                # 2 GiB announced: dropped as it comes, nothing held.
                ("cut text 2 GiB", b"\x06\x00\x00\x00" + struct.pack(">I", 0x7FFFFFFF) +
                 b"a" * 65536),
                # Negative: the extended clipboard's form (its absolute value).
                ("cut text -1, then garbage",
                 b"\x06\x00\x00\x00" + struct.pack(">i", -1) + b"a" * 64),
                ("cut text most negative", b"\x06\x00\x00\x00" + struct.pack(">i", -2**31)),
                ("set encodings 65535", b"\x02\x00" + struct.pack(">H", 0xFFFF) + b"\x00" * 16),
                ("unknown type", b"\xc8" + os.urandom(31)),
                ("qemu message bad sub", b"\xff\x07" + os.urandom(10)),
                ("update request out of range",
                 b"\x03\x00" + struct.pack(">HHHH", 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)),
                ("pixel format garbage", b"\x00\x00\x00\x00" + os.urandom(16))):
            t, w, h = logged_in_vnc(gw)
            try:
                t.sendall(msg)
            except OSError:
                pass
            state = ended_or_alive(t, timeout=3)
            t.close()
            tried += 1
            print("  VNC %s: connection %s" % (name, state))
            if gw.d.proc.poll() is not None:
                fail("vmgated died after %s" % name)
        if vm_rss_kib(pid) - rss > 64 * 1024:
            fail("vmgated grew by %d KiB on messages with absurd lengths" % (vm_rss_kib(pid) - rss))
        # RDP preconnection PDUs with absurd sizes (rdpwire's malformed set).
        for name, data in rdpwire.MALFORMED_PCBS.items():
            r = rdpwire.raw_pcb("127.0.0.1", gw.d.rdp_port, data, wait=DEADLINE, timeout=DEADLINE)
            if not r.closed:
                fail("RDP PCB %s: the connection stayed open" % name)
            tried += 1
        # The admin socket: a line with no end, and absurd JSON.
        for data in (b"{" * 200000, b'{"cmd": "user.list", "args": [' + b"1," * 500000,
                     b"\xff" * 70000 + b"\n", b'{"id": 1e999999, "cmd": 7}\n'):
            a = socket.socket(socket.AF_UNIX)
            a.settimeout(DEADLINE)
            a.connect(gw.d.socket)
            try:
                a.sendall(data)
                a.shutdown(socket.SHUT_WR)
                while a.recv(65536):
                    pass
            except socket.timeout:
                fail("admin socket: %r… left the connection open" % data[:20])
            except OSError:
                pass
            a.close()
            tried += 1
        gw.d.ok("user", "list")
        real_logins(gw)
        print("oversized and negative lengths tried: %d" % tried)


def test_a_connection_flood_does_not_keep_a_user_out():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2, LIMITS, nla=True) as gw:
        pid = gw.d.proc.pid
        g1.wait_ready()
        real_logins(gw)
        wait_sessions_gone(gw)
        base = daemon_counts(pid)
        stop = threading.Event()
        counts = {"vnc": 0, "rdp": 0, "web": 0}
        flood_s = 8

        def flood(name, port, src):
            end = time.monotonic() + flood_s
            while not stop.is_set() and time.monotonic() < end and counts[name] < 20000:
                s = socket.socket()
                try:
                    s.bind((src, 0))
                    s.settimeout(2)
                    s.connect(("127.0.0.1", port))
                    s.send(b"\x16\x03\x01\x00")
                except OSError:
                    pass
                finally:
                    s.close()
                counts[name] += 1

        threads = [threading.Thread(target=flood, args=(n, p, "127.0.4.%d" % i))
                   for i, (n, p) in enumerate((("vnc", gw.d.vnc_port), ("rdp", gw.d.rdp_port),
                                               ("web", gw.d.web_port)), start=1)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 10
            while min(counts.values()) < 100:  # the flood is under way on every port
                if time.monotonic() > deadline:
                    fail("the flood did not get going: %r" % counts)
                time.sleep(0.05)
            t0 = time.monotonic()
            real_logins(gw)
            took = time.monotonic() - t0
            for t in threads:  # the flood goes on for its whole time
                t.join(timeout=flood_s + 30)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        if took > 10:
            fail("a real login took %.1f s during the flood" % took)
        if gw.d.proc.poll() is not None:
            fail("vmgated died under the flood")
        wait_sessions_gone(gw)
        wait_back_to(pid, base, "the flood")
        print("flood: %s connections in %d s (a real login on each port during it took "
              "%.2f s)" % (", ".join("%s %d" % kv for kv in sorted(counts.items())), flood_s,
                           took))


if __name__ == "__main__":
    run_tests([test_random_truncated_and_malformed_tls_input_on_every_port,
               test_oversized_and_negative_lengths_are_refused,
               test_a_connection_flood_does_not_keep_a_user_out])
