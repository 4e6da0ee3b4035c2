"""A VNC login to vmgate's front end as a script does it: RFB 3.8, VeNCrypt
0.2, X509Plain with the certificate checked against a CA.

Standard library only; /usr/bin/python3 or any Python 3. Used by the
integration tests and the benchmark's hog.py.
"""

import socket
import ssl
import struct
import time


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk
    return buf


class LoginRefused(PermissionError):
    """The server refused the login; .reason is what it said (RFB 3.8
    SecurityResult reason), or "" when it said nothing."""

    def __init__(self, reason):
        super().__init__("login refused: %s" % (reason or "(no reason given)"))
        self.reason = reason


def choose_x509plain(s):
    """On a fresh connection to vmgate's VNC port: RFB 3.8, security type
    VeNCrypt, version 0.2, subtype X509Plain. The socket is then ready for
    the TLS handshake."""
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


def login(host, port, user, password, ca, times=None, source=None):
    """Log in; returns (TLS socket, width, height); raises LoginRefused with
    the server's reason when refused. With a dict @times it also records, in
    ms from the start: "tcp" (connected), "tls" (the VeNCrypt exchange and
    TLS handshake done), "auth" (SecurityResult read) and "init" (ServerInit
    read). @source is the local address to connect from (another loopback
    address, say)."""
    t0 = time.monotonic()

    def mark(what):
        if times is not None:
            times[what] = (time.monotonic() - t0) * 1000.0

    s = socket.create_connection((host, port), timeout=30,
                                 source_address=(source, 0) if source else None)
    mark("tcp")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    choose_x509plain(s)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    t = ctx.wrap_socket(s, server_hostname=host)
    mark("tls")
    u, p = user.encode(), password.encode()
    t.sendall(struct.pack(">II", len(u), len(p)) + u + p)
    if struct.unpack(">I", recv_exact(t, 4))[0] != 0:
        try:
            n = struct.unpack(">I", recv_exact(t, 4))[0]
            reason = recv_exact(t, min(n, 4096)).decode("utf-8", "replace")
        except (ConnectionError, OSError):
            reason = ""
        t.close()
        raise LoginRefused(reason)
    mark("auth")
    t.sendall(b"\x01")  # ClientInit, shared
    w, h = struct.unpack(">HH", recv_exact(t, 4))
    recv_exact(t, 16)
    recv_exact(t, struct.unpack(">I", recv_exact(t, 4))[0])
    mark("init")
    return t, w, h
