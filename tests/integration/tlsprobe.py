"""tests/integration/tlsprobe.py — what a TLS server accepts, as sslscan
reports it, for servers that speak TLS only after a protocol prelude (VNC's
VeNCrypt, RDP's X.224), which sslscan and `openssl s_client` cannot do.

    served_fingerprint(ready) -> "AB:CD:..." (SHA-256 of the certificate served)
    renegotiation_refused(ready) -> True when a TLS 1.2 renegotiation that
                                    `openssl s_client` asks for is refused
    scan(ready) -> {"versions": {"TLSv1": False, ..., "TLSv1.3": True},
                    "tls12_ciphers": [accepted TLS 1.2 suites, sorted],
                    "tls13_cipher": the suite TLS 1.3 negotiated,
                    "tls12_ticket": bool, "tls13_ticket": bool,
                    "compression": what TLS 1.2 negotiated (None: none)}

@ready() opens a new connection and returns the socket at the point where
the client's ClientHello is due. One handshake per probe, sequentially.

Standard library and the openssl command only; /usr/bin/python3 or any
Python 3.
"""

import hashlib
import socket
import ssl
import subprocess
import threading
import time
import warnings

import rdpwire
import rfblogin

VERSIONS = (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
            ("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))
# How long a server has to send session tickets after its handshake (it sends
# them right after the client's Finished, or never).
TICKET_WAIT_S = 1.0


def vnc_ready(host, port):
    """A connection to vmgate's VNC port that has chosen VeNCrypt X509Plain."""
    def ready():
        s = socket.create_connection((host, port), timeout=10)
        rfblogin.choose_x509plain(s)
        return s
    return ready


def plain_ready(host, port):
    """A connection to a port that starts with TLS at once (the web port)."""
    def ready():
        return socket.create_connection((host, port), timeout=10)
    return ready


def rdp_ready(host, port):
    """A connection to an RDP port whose X.224 exchange selected TLS or NLA."""
    def ready():
        r = rdpwire.x224_connect(host, port, rdpwire.PROTOCOL_SSL | rdpwire.PROTOCOL_HYBRID)
        if r == rdpwire.CLOSED:
            raise ConnectionError("the RDP server closed the connection at X.224")
        return r[0]
    return ready


def _context(version, ciphers="ALL:@SECLEVEL=0"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old TLS is the point
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _handshake(ready, ctx):
    """The TLS socket after a handshake, or None when the server refused."""
    s = ready()
    try:
        t = ctx.wrap_socket(s)
    except (ssl.SSLError, ConnectionError):
        s.close()
        return None
    return t


def _got_ticket(t):
    """Whether the server sent a session ticket: TLS 1.2 says so in the
    handshake; TLS 1.3 tickets follow it, so wait for them a little."""
    if t.version() == "TLSv1.3":
        t.settimeout(TICKET_WAIT_S)
        try:
            t.recv(1)  # neither server sends data before the client does
        except (socket.timeout, ssl.SSLError, ConnectionError):
            pass
    return bool(t.session is not None and t.session.has_ticket)


def tls12_candidates():
    """Every TLS 1.2 suite the local OpenSSL can offer without a pre-shared
    key or SRP password."""
    ctx = _context(ssl.TLSVersion.TLSv1_2)
    names = set()
    for c in ctx.get_ciphers():
        if c["protocol"] == "TLSv1.2" or c["protocol"] in ("TLSv1", "SSLv3"):
            if c.get("kea") in ("kx-psk", "kx-ecdhe-psk", "kx-dhe-psk", "kx-rsa-psk",
                                "kx-srp") or c.get("auth") in ("auth-psk", "auth-srp"):
                continue
            names.add(c["name"])
    return sorted(names)


def scan(ready, candidates=None):
    res = {"versions": {}, "tls12_ciphers": []}
    for name, version in VERSIONS:
        try:
            t = _handshake(ready, _context(version))
        except ssl.SSLError:
            t = None  # the local OpenSSL cannot offer it at all
        res["versions"][name] = t is not None
        if t is None:
            continue
        if name == "TLSv1.2":
            res["compression"] = t.compression()
            res["tls12_ticket"] = _got_ticket(t)
        elif name == "TLSv1.3":
            res["tls13_cipher"] = t.cipher()[0]
            res["tls13_ticket"] = _got_ticket(t)
        t.close()
    for cipher in candidates or tls12_candidates():
        try:
            ctx = _context(ssl.TLSVersion.TLSv1_2, cipher + ":@SECLEVEL=0")
        except ssl.SSLError:
            continue
        t = _handshake(ready, ctx)
        if t is not None:
            res["tls12_ciphers"].append(cipher)
            t.close()
    res["tls12_ciphers"].sort()
    return res


def served_fingerprint(ready):
    """The SHA-256 fingerprint of the certificate the server presents, in
    `openssl x509 -fingerprint` form."""
    t = _handshake(ready, _context(ssl.TLSVersion.TLSv1_2))
    if t is None:
        raise ConnectionError("TLS 1.2 handshake refused")
    der = t.getpeercert(binary_form=True)
    t.close()
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def _splice(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def renegotiation_refused(ready, timeout=10):
    """Ask for a TLS 1.2 renegotiation with `openssl s_client` (its "R"
    command), through a local relay that has done the protocol prelude.
    True when the server refused it (OpenSSL's "no renegotiation"), False
    when the renegotiated session went on; raises on anything else."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(timeout)

    def relay():
        try:
            c, _ = lst.accept()
        except OSError:
            return
        s = ready()
        threading.Thread(target=_splice, args=(c, s), daemon=True).start()
        _splice(s, c)

    threading.Thread(target=relay, daemon=True).start()
    p = subprocess.Popen(["openssl", "s_client", "-brief", "-connect",
                          "127.0.0.1:%d" % lst.getsockname()[1],
                          "-tls1_2", "-no_ticket"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, cond = [], threading.Condition()

    def read():
        for line in p.stdout:
            with cond:
                lines.append(line)
                cond.notify_all()
        with cond:
            lines.append(None)  # end of output
            cond.notify_all()

    def wait_for(pred):
        deadline = time.monotonic() + timeout
        with cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                cond.wait(left)
            return True

    threading.Thread(target=read, daemon=True).start()
    try:
        # The handshake is done once s_client has said so (-brief: on stderr).
        if not wait_for(lambda: any(l and "CONNECTION ESTABLISHED" in l for l in lines)):
            raise ConnectionError("no TLS 1.2 session: %s" % "".join(l for l in lines if l))
        p.stdin.write("R\n")
        p.stdin.flush()
        refused = wait_for(lambda: any(l is None or (l and "no renegotiation" in l)
                                       for l in lines))
        text = "".join(l for l in lines if l)
        if "RENEGOTIATING" not in text:
            raise ConnectionError("openssl s_client did not renegotiate: %s" % text[-400:])
        # No refusal within the timeout, and the session still up: accepted.
        return refused and "no renegotiation" in text
    finally:
        p.kill()
        p.wait()
        lst.close()


if __name__ == "__main__":
    import json
    import sys
    if len(sys.argv) != 4 or sys.argv[1] not in ("vnc", "rdp"):
        print("usage: tlsprobe.py vnc|rdp HOST PORT", file=sys.stderr)
        sys.exit(2)
    ready = (vnc_ready if sys.argv[1] == "vnc" else rdp_ready)(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(scan(ready), indent=1))
