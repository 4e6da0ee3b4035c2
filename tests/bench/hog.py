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
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from rfblogin import login  # noqa: E402


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
