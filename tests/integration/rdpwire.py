"""Raw RDP wire probes for the RDP front end: the first bytes a client sends
(an optional MS-RDPEPS preconnection PDU, then the X.224 Connection Request
with its RDP_NEG_REQ), the server's Connection Confirm, and a TLS handshake
on the same socket. No RDP library: every byte is built here, every read is
bounded by a timeout, and anything a server should never do raises
ProbeError.

    from rdpwire import x224_connect, CLOSED, PROTOCOL_SSL, PROTOCOL_HYBRID

    r = x224_connect("127.0.0.1", port, PROTOCOL_SSL | PROTOCOL_HYBRID,
                     cookie="alice", pcb=dict(id=0, blob="vm1", version=2))
    if r == CLOSED:
        ...                             # the server hung up without a word
    sock, neg = r                       # neg: a Negotiation (see below)
    sock.close()

    tls_after_x224(host, port, ssl.TLSVersion.TLSv1_1)
        -> TlsResult("refused", "TLSV1_ALERT_PROTOCOL_VERSION ...")
    standard_security(host, port)       -> Negotiation(kind="failure",
                                           failure_code=1, ...) or CLOSED
    raw_pcb(host, port, MALFORMED_PCBS["huge-cbsize"], wait=10)
        -> RawResult(how="eof", after=0.01, received=b"")

Run it as a script (python3 rdpwire.py HOST PORT) to print what a server
answers to each probe.
"""

import collections
import os
import socket
import ssl
import struct
import sys
import time
import warnings

# -- constants (MS-RDPBCGR 2.2.1.1.1, 2.2.1.2.1, 2.2.1.2.2) -------------------
PROTOCOL_RDP = 0x0
PROTOCOL_SSL = 0x1
PROTOCOL_HYBRID = 0x2
PROTOCOL_RDSTLS = 0x4
PROTOCOL_HYBRID_EX = 0x8
PROTOCOL_RDSAAD = 0x10

TYPE_RDP_NEG_REQ = 0x01
TYPE_RDP_NEG_RSP = 0x02
TYPE_RDP_NEG_FAILURE = 0x03

SSL_REQUIRED_BY_SERVER = 1
SSL_NOT_ALLOWED_BY_SERVER = 2
SSL_CERT_NOT_ON_SERVER = 3
INCONSISTENT_FLAGS = 4
HYBRID_REQUIRED_BY_SERVER = 5
SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER = 6

FAILURE_NAMES = {
    SSL_REQUIRED_BY_SERVER: "SSL_REQUIRED_BY_SERVER",
    SSL_NOT_ALLOWED_BY_SERVER: "SSL_NOT_ALLOWED_BY_SERVER",
    SSL_CERT_NOT_ON_SERVER: "SSL_CERT_NOT_ON_SERVER",
    INCONSISTENT_FLAGS: "INCONSISTENT_FLAGS",
    HYBRID_REQUIRED_BY_SERVER: "HYBRID_REQUIRED_BY_SERVER",
    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
}
PROTOCOL_NAMES = {
    PROTOCOL_RDP: "RDP", PROTOCOL_SSL: "SSL", PROTOCOL_HYBRID: "HYBRID",
    PROTOCOL_RDSTLS: "RDSTLS", PROTOCOL_HYBRID_EX: "HYBRID_EX", PROTOCOL_RDSAAD: "RDSAAD",
}

X224_TPDU_CONNECTION_REQUEST = 0xE0
X224_TPDU_CONNECTION_CONFIRM = 0xD0

# The answer to a probe when the server closed the connection (EOF or reset)
# before sending a single byte of its reply.
CLOSED = "closed"

DEFAULT_TIMEOUT = 10.0


class ProbeError(AssertionError):
    """The server did something no RDP server should (a malformed reply, no
    reply at all within the timeout, ...)."""


# -- results ----------------------------------------------------------------------
class Negotiation(collections.namedtuple(
        "Negotiation", "kind type flags protocol failure_code raw")):
    """The negotiation part of an X.224 Connection Confirm.

    kind: "rsp" (RDP_NEG_RSP: protocol = the selected protocol), "failure"
    (RDP_NEG_FAILURE: failure_code = why) or "none" (a Connection Confirm
    with no negotiation data: a legacy server that only does Standard RDP
    Security; protocol is PROTOCOL_RDP then). type: 2, 3 or None. flags: the
    RDP_NEG_RSP/FAILURE flags byte. raw: the whole TPKT as received."""

    def __str__(self):
        if self.kind == "rsp":
            return "RDP_NEG_RSP selected %s (flags 0x%02x)" % (
                protocol_name(self.protocol), self.flags)
        if self.kind == "failure":
            return "RDP_NEG_FAILURE %s" % failure_name(self.failure_code)
        return "Connection Confirm without negotiation data (legacy RDP security)"


class RawResult(collections.namedtuple("RawResult", "how after received")):
    """What happened after raw bytes were sent.

    how: "eof" (the server closed the connection), "reset" (it reset it) or
    "open" (still open when the wait ran out); after: seconds from the end of
    sending to the close (or to the end of the wait); received: any bytes the
    server sent meanwhile."""

    @property
    def closed(self):
        return self.how in ("eof", "reset")

    def __str__(self):
        s = "closed (%s) after %.3fs" % (self.how, self.after) if self.closed else \
            "still open after %.3fs" % self.after
        if self.received:
            s += ", received %d bytes: %s" % (len(self.received), self.received[:32].hex())
        return s


# A 2-tuple, so ("handshake-ok", "TLSv1.2") == result works.
# status: "handshake-ok" (detail: the negotiated version, as
# SSLObject.version() names it) or "refused" (detail: why, e.g. the alert).
TlsResult = collections.namedtuple("TlsResult", "status detail")


def protocol_name(p):
    """"SSL", "SSL|HYBRID", ... for a protocol value or set of flags."""
    if p in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[p]
    names = [n for v, n in sorted(PROTOCOL_NAMES.items()) if v & p]
    if sum(v for v in PROTOCOL_NAMES if v & p) != p:
        names.append("0x%x" % (p & ~sum(PROTOCOL_NAMES)))
    return "|".join(names)


def failure_name(code):
    return "%s(%d)" % (FAILURE_NAMES.get(code, "UNKNOWN"), code)


# -- building PDUs ----------------------------------------------------------------
def pcb_bytes(id=0, blob=None, version=None, cb_size=None, cch_pcb=None, nuls=1):
    """An MS-RDPEPS RDP_PRECONNECTION_PDU_V1 or _V2 as clients send it.

    version defaults to 2 when a blob is given, else 1. V2 carries cchPCB
    (UTF-16 code units including the terminating NUL) and the blob in
    UTF-16LE with a NUL; with blob=None a V2 PDU has cchPCB 0 (what FreeRDP
    2 and 3 send with only /pcid). FreeRDP 3.10 sends the blob with one NUL
    (nuls=1); FreeRDP 2.11 with two, both counted in cchPCB (nuls=2).
    cb_size, cch_pcb and nuls=0 override the computed fields to build
    malformed PDUs."""
    if version is None:
        version = 2 if blob is not None else 1
    body = b""
    if version == 2:
        text = (blob or "").encode("utf-16-le")
        if blob is not None:
            text += b"\0\0" * nuls
        cch = len(text) // 2 if cch_pcb is None else cch_pcb
        body = struct.pack("<H", cch) + text
    size = 16 + len(body) if cb_size is None else cb_size
    return struct.pack("<IIII", size, 0, version, id) + body


def _pcb_from(pcb):
    if pcb is None:
        return b""
    if isinstance(pcb, (bytes, bytearray)):
        return bytes(pcb)
    return pcb_bytes(id=pcb.get("id", 0), blob=pcb.get("blob"), version=pcb.get("version"))


def x224_request(requested_protocols, cookie=None, routing_token=None, neg=True, flags=0):
    """A TPKT-framed X.224 Connection Request.

    cookie: user name for "Cookie: mstshash=USER\\r\\n"; routing_token: the
    value for "Cookie: msts=VALUE\\r\\n" (str or bytes); at most one of the
    two, as the spec says (both are allowed here, token first, to probe a
    server). neg=False leaves out the RDP_NEG_REQ (a pre-RDP-5.2 client)."""
    var = b""
    if routing_token is not None:
        tok = routing_token.encode() if isinstance(routing_token, str) else routing_token
        var += b"Cookie: msts=" + tok + b"\r\n"
    if cookie is not None:
        var += b"Cookie: mstshash=" + cookie.encode() + b"\r\n"
    if neg:
        var += struct.pack("<BBHI", TYPE_RDP_NEG_REQ, flags, 8, requested_protocols)
    x224 = struct.pack(">BBHHB", 6 + len(var), X224_TPDU_CONNECTION_REQUEST, 0, 0, 0) + var
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


# A few malformed preconnection PDUs (each a complete byte string to send as
# the first bytes of a connection).
MALFORMED_PCBS = {
    # cbSize says 4 GiB: a server must not wait for (or allocate) that much.
    "huge-cbsize": pcb_bytes(id=1, cb_size=0xFFFFFFF0, version=1),
    # V2 with a huge cbSize but only the fixed part present.
    "huge-cbsize-v2": pcb_bytes(id=1, blob="vm", cb_size=0x7FFFFFFF),
    # cbSize smaller than the 16-byte V1 header it is part of.
    "cbsize-below-header": pcb_bytes(id=1, cb_size=8, version=1),
    "cbsize-zero": pcb_bytes(id=1, cb_size=0, version=1),
    # V2 whose cchPCB claims more characters than cbSize holds.
    "v2-cch-beyond-cbsize": pcb_bytes(id=1, blob="vm", cch_pcb=1000),
    # V2 whose cbSize is too small for its own cchPCB field.
    "v2-cbsize-v1": pcb_bytes(id=1, blob="vm", cb_size=16),
    # V2 blob without its terminating NUL.
    "v2-no-nul": pcb_bytes(id=1, blob="vm1", nuls=0),
    # An unknown version.
    "bad-version": pcb_bytes(id=1, version=3),
    # Half a header, then silence: the server must give up by itself.
    "truncated": pcb_bytes(id=1, blob="vm1")[:10],
    # Random bytes that are neither a PCB nor a TPKT (first byte not 0x03).
    "garbage": bytes([0xA5]) + os.urandom(63),
}


# -- socket helpers ---------------------------------------------------------------
def _connect(host, port, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv_exact(s, n, deadline, what):
    """n bytes, or b"" if the peer closed before the first one. Raises
    ProbeError on a timeout or a close in the middle; ConnectionResetError
    propagates (the caller decides what a reset means)."""
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeError("%s: timed out after %d of %d bytes" % (what, len(buf), n))
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            raise ProbeError("%s: timed out after %d of %d bytes" % (what, len(buf), n)) from None
        if not chunk:
            if buf:
                raise ProbeError("%s: connection closed after %d of %d bytes: %s" %
                                 (what, len(buf), n, buf.hex()))
            return b""
        buf += chunk
    return buf


def _read_tpkt(s, deadline, what):
    """One TPKT (header included), or b"" if the server closed (or reset)
    the connection before sending anything."""
    try:
        head = _recv_exact(s, 4, deadline, what)
    except ConnectionResetError:
        return b""
    if not head:
        return b""
    if head[0] != 3:
        raise ProbeError("%s: not a TPKT (first bytes %s)" % (what, head.hex()))
    length = struct.unpack(">H", head[2:4])[0]
    if length < 7:
        raise ProbeError("%s: TPKT length %d too short" % (what, length))
    rest = _recv_exact(s, length - 4, deadline, what)
    if len(rest) != length - 4:
        raise ProbeError("%s: connection closed inside a TPKT" % what)
    return head + rest


def parse_connection_confirm(pdu):
    """Negotiation from a TPKT holding an X.224 Connection Confirm."""
    li = pdu[4]
    if pdu[5] & 0xF0 != X224_TPDU_CONNECTION_CONFIRM:
        raise ProbeError("not an X.224 Connection Confirm: %s" % pdu.hex())
    if 5 + li != len(pdu):
        raise ProbeError("X.224 length indicator %d does not match TPKT length %d: %s" %
                         (li, len(pdu), pdu.hex()))
    var = pdu[11:]
    if not var:
        return Negotiation("none", None, 0, PROTOCOL_RDP, None, pdu)
    if len(var) != 8:
        raise ProbeError("negotiation data of %d bytes, want 8: %s" % (len(var), pdu.hex()))
    typ, flags, length, value = struct.unpack("<BBHI", var)
    if length != 8:
        raise ProbeError("RDP_NEG length field %d, want 8: %s" % (length, pdu.hex()))
    if typ == TYPE_RDP_NEG_RSP:
        return Negotiation("rsp", typ, flags, value, None, pdu)
    if typ == TYPE_RDP_NEG_FAILURE:
        return Negotiation("failure", typ, flags, None, value, pdu)
    raise ProbeError("unknown negotiation type %d: %s" % (typ, pdu.hex()))


# -- probes -----------------------------------------------------------------------
def x224_connect(host, port, requested_protocols, cookie=None, routing_token=None, pcb=None,
                 timeout=DEFAULT_TIMEOUT, neg=True):
    """Send [preconnection PDU +] X.224 Connection Request; read the Confirm.

    pcb: dict(id=, blob=str|None, version=1|2) or raw bytes. Returns
    (socket, Negotiation) — the socket is left open right after the Confirm,
    for a TLS handshake or more — or CLOSED if the server closed or reset
    the connection without answering. Raises ProbeError on a malformed
    answer or none within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    s = _connect(host, port, timeout)
    try:
        data = _pcb_from(pcb) + x224_request(requested_protocols, cookie, routing_token, neg)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            s.close()
            return CLOSED
        pdu = _read_tpkt(s, deadline, "X.224 Connection Confirm")
        if not pdu:
            s.close()
            return CLOSED
        return s, parse_connection_confirm(pdu)
    except BaseException:
        s.close()
        raise


def raw_pcb(host, port, data_bytes, wait=DEFAULT_TIMEOUT, timeout=DEFAULT_TIMEOUT):
    """Send arbitrary bytes as the start of a connection (a malformed
    preconnection PDU, say), then wait up to `wait` seconds for the server to
    close. Returns a RawResult; whatever the server sends meanwhile is
    collected, not interpreted."""
    s = _connect(host, port, timeout)
    received = b""
    try:
        try:
            s.sendall(data_bytes)
        except BrokenPipeError:
            return RawResult("eof", 0.0, b"")
        except ConnectionResetError:
            return RawResult("reset", 0.0, b"")
        t0 = time.monotonic()
        deadline = t0 + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return RawResult("open", time.monotonic() - t0, received)
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return RawResult("reset", time.monotonic() - t0, received)
            if not chunk:
                return RawResult("eof", time.monotonic() - t0, received)
            received += chunk
    finally:
        s.close()


def standard_security(host, port, cookie=None, timeout=DEFAULT_TIMEOUT):
    """X.224 request offering only Standard RDP Security (requestedProtocols
    0). Returns the server's Negotiation (a server that requires TLS answers
    kind "failure" with SSL_REQUIRED_BY_SERVER or HYBRID_REQUIRED_BY_SERVER)
    or CLOSED."""
    r = x224_connect(host, port, PROTOCOL_RDP, cookie=cookie, timeout=timeout)
    if r == CLOSED:
        return CLOSED
    s, negotiation = r
    s.close()
    return negotiation


_TLS_CODES = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
              0x0304: "TLSv1.3"}
_TLS_ENUM = {ssl.TLSVersion.TLSv1: 0x0301, ssl.TLSVersion.TLSv1_1: 0x0302,
             ssl.TLSVersion.TLSv1_2: 0x0303, ssl.TLSVersion.TLSv1_3: 0x0304}


def client_hello_versions(data):
    """The protocol versions a TLS ClientHello (raw records) offers, as wire
    codes: its supported_versions extension, or else every version from TLS
    1.0 up to the legacy client_version."""
    if len(data) < 9 or data[0] != 22 or data[5] != 1:
        raise ProbeError("not a TLS ClientHello: %s" % data[:16].hex())
    body = data[9:]
    client_version = struct.unpack(">H", body[0:2])[0]
    p = 2 + 32
    p += 1 + body[p]                                    # session id
    p += 2 + struct.unpack(">H", body[p:p + 2])[0]      # cipher suites
    p += 1 + body[p]                                    # compression methods
    if p + 2 <= len(body):
        end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            etype, elen = struct.unpack(">HH", body[p:p + 4])
            if etype == 43:                             # supported_versions
                n = body[p + 4]
                ext = body[p + 5:p + 5 + n]
                vers = (struct.unpack(">H", ext[i:i + 2])[0] for i in range(0, n, 2))
                return sorted(v for v in vers if v & 0x0F0F != 0x0A0A)  # no GREASE
            p += 4 + elen
    return list(range(0x0301, client_version + 1))


def tls_context(max_version, min_version=None):
    """A client context limited to [min_version, max_version] (min defaults
    to max), no certificate verification, ciphers at security level 0 so that
    OpenSSL really offers TLS 1.0/1.1 (its default level 1+ has no cipher
    usable below TLS 1.2 with Debian's configuration)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old TLS is the point
        ctx.minimum_version = min_version if min_version is not None else max_version
        ctx.maximum_version = max_version
    return ctx


def tls_handshake(sock, max_version, min_version=None, timeout=DEFAULT_TIMEOUT,
                  server_hostname=None):
    """A TLS client handshake over an already negotiated socket, driven
    through memory BIOs so the ClientHello can be checked: it must offer
    max_version (else ProbeError: the local OpenSSL would not even try it).
    Returns TlsResult("handshake-ok", version) or TlsResult("refused", why).
    The socket is closed afterwards either way."""
    ctx = tls_context(max_version, min_version)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_hostname)
    deadline = time.monotonic() + timeout
    first = True
    try:
        while True:
            try:
                obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLError as e:
                if first:   # nothing sent yet: the local side gave up
                    raise ProbeError("the local TLS client could not start a handshake: %s"
                                     % e) from None
                return TlsResult("refused", "%s: %s" % (e.reason or type(e).__name__, e))
            out = outgoing.read()
            if first:
                if not out:
                    raise ProbeError("the local TLS client produced no ClientHello")
                offered = client_hello_versions(out)
                want = _TLS_ENUM.get(max_version)
                if want is not None and max(offered) != want:
                    raise ProbeError("the local OpenSSL does not offer %s (ClientHello offers %s)"
                                     % (_TLS_CODES[want],
                                        [_TLS_CODES.get(v, hex(v)) for v in offered]))
                first = False
            if out:
                try:
                    sock.sendall(out)
                except (BrokenPipeError, ConnectionResetError) as e:
                    return TlsResult("refused", "connection closed while sending: %s" % e)
            if done:
                return TlsResult("handshake-ok", obj.version())
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeError("TLS handshake: no answer within %ss" % timeout)
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise ProbeError("TLS handshake: no answer within %ss" % timeout) from None
            except ConnectionResetError:
                return TlsResult("refused", "connection reset during the handshake")
            if not data:
                incoming.write_eof()
                try:
                    obj.do_handshake()
                except ssl.SSLError as e:
                    return TlsResult("refused", "connection closed during the handshake (%s)"
                                     % (e.reason or e))
                return TlsResult("refused", "connection closed during the handshake")
            incoming.write(data)
    finally:
        sock.close()


def tls_after_x224(host, port, max_version, min_version=None, timeout=DEFAULT_TIMEOUT,
                   requested_protocols=PROTOCOL_SSL | PROTOCOL_HYBRID, cookie=None, pcb=None):
    """Negotiate SSL|HYBRID over X.224, then try a TLS handshake limited to
    [min_version, max_version] (min defaults to max, so TLSv1_1 alone means
    "only TLS 1.1"). Returns TlsResult("handshake-ok", "TLSv1.2") or
    TlsResult("refused", why). Raises ProbeError if the server did not select
    TLS or HYBRID (or closed the connection) in the X.224 exchange."""
    r = x224_connect(host, port, requested_protocols, cookie=cookie, pcb=pcb, timeout=timeout)
    if r == CLOSED:
        raise ProbeError("the server closed the connection at the X.224 request")
    s, negotiation = r
    if negotiation.kind != "rsp" or negotiation.protocol not in (
            PROTOCOL_SSL, PROTOCOL_HYBRID, PROTOCOL_HYBRID_EX):
        s.close()
        raise ProbeError("the server did not select TLS/HYBRID: %s" % negotiation)
    return tls_handshake(s, max_version, min_version, timeout)


# -- self-test ----------------------------------------------------------------------
def _show(name, fn, *args, **kw):
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
    except (ProbeError, OSError) as e:
        r = "%s: %s" % (type(e).__name__, e)
    if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], socket.socket):
        r[0].close()
        r = r[1]
    print("%-34s %s  [%.2fs]" % (name, r, time.monotonic() - t0), flush=True)
    return r


def main(argv):
    if len(argv) != 3:
        print("usage: %s HOST PORT" % argv[0], file=sys.stderr)
        return 2
    host, port = argv[1], int(argv[2])
    show = _show
    show("standard_security", standard_security, host, port)
    for req in (PROTOCOL_SSL, PROTOCOL_HYBRID, PROTOCOL_SSL | PROTOCOL_HYBRID,
                PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX):
        show("x224 %s" % protocol_name(req), x224_connect, host, port, req)
    show("x224 SSL|HYBRID cookie", x224_connect, host, port, 3, cookie="probe")
    show("x224 SSL|HYBRID routing token", x224_connect, host, port, 3,
         routing_token="3640205228.15629.0000")
    show("x224 without RDP_NEG_REQ", x224_connect, host, port, 0, neg=False)
    show("x224 after PCB v1", x224_connect, host, port, 3, pcb=dict(id=7, version=1))
    show("x224 after PCB v2", x224_connect, host, port, 3, pcb=dict(id=7, blob="probe-vm"))
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2,
              ssl.TLSVersion.TLSv1_3):
        show("tls only %s" % v.name, tls_after_x224, host, port, v)
    show("tls any", tls_after_x224, host, port, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1)
    for name, data in MALFORMED_PCBS.items():
        show("raw_pcb %s" % name, raw_pcb, host, port, data, wait=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
