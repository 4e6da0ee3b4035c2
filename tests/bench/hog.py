#!/usr/bin/python3
"""tests/bench/hog.py — a VNC viewer that asks for updates and never reads.

    hog.py HOST PORT USER PWFILE CA [--seconds S]

Logs in to vmgate's VNC front end (VeNCrypt X509Plain, the certificate
checked against CA and HOST), prints "logged in" on stderr, waits for a line
on stdin, then sends a request for the whole screen every 20 ms without
reading a byte of the answers, with a small receive buffer, for S seconds
(default 600) or until killed. The benchmark's isolation figures use it: it is the viewer that
"reads not at all" while still asking, which a stopped ordinary client does
not do (RFB sends only what was asked for).

Standard library only; /usr/bin/python3 or any Python 3.
"""

import argparse
import socket
import ssl
import struct
import sys
import time


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk
    return buf


def login(host, port, user, password, ca, times=None):
    """Log in; returns (TLS socket, width, height). With a dict @times it
    also records, in ms from the start: "tcp" (connected), "tls" (the
    VeNCrypt exchange and TLS handshake done), "auth" (SecurityResult read)
    and "init" (ServerInit read)."""
    t0 = time.monotonic()

    def mark(what):
        if times is not None:
            times[what] = (time.monotonic() - t0) * 1000.0

    s = socket.create_connection((host, port), timeout=30)
    mark("tcp")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    if recv_exact(s, 12) != b"RFB 003.008\n":
        raise ConnectionError("no RFB 3.8 greeting")
    s.sendall(b"RFB 003.008\n")
    types = recv_exact(s, recv_exact(s, 1)[0])
    if 19 not in types:
        raise ConnectionError("no VeNCrypt offered")
    s.sendall(bytes([19]))
    recv_exact(s, 2)
    s.sendall(b"\x00\x02")
    if recv_exact(s, 1) != b"\x00":
        raise ConnectionError("VeNCrypt 0.2 refused")
    n = recv_exact(s, 1)[0]
    if 262 not in struct.unpack(">%dI" % n, recv_exact(s, 4 * n)):
        raise ConnectionError("no X509Plain offered")
    s.sendall(struct.pack(">I", 262))
    if recv_exact(s, 1) != b"\x01":
        raise ConnectionError("X509Plain refused")
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    t = ctx.wrap_socket(s, server_hostname=host)
    mark("tls")
    u, p = user.encode(), password.encode()
    t.sendall(struct.pack(">II", len(u), len(p)) + u + p)
    if struct.unpack(">I", recv_exact(t, 4))[0] != 0:
        raise PermissionError("login refused")
    mark("auth")
    t.sendall(b"\x01")  # ClientInit, shared
    w, h = struct.unpack(">HH", recv_exact(t, 4))
    recv_exact(t, 16)
    recv_exact(t, struct.unpack(">I", recv_exact(t, 4))[0])
    mark("init")
    return t, w, h


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("pwfile")
    ap.add_argument("ca")
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args()
    with open(a.pwfile) as f:
        password = f.readline().rstrip("\r\n")
    t, w, h = login(a.host, a.port, a.user, password, a.ca)
    print("logged in", file=sys.stderr, flush=True)
    sys.stdin.readline()
    request = struct.pack(">BBHHHH", 3, 0, 0, 0, w, h)  # whole screen, not incremental
    t.settimeout(0.5)
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        try:
            t.sendall(request)
        except socket.timeout:
            pass  # the server stopped reading too: keep trying until the end
        except OSError:
            return 0  # dropped by the server
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
