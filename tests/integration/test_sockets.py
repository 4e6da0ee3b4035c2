"""The gateway's side of connections. Every TCP socket vmgated talks to a
logged-in VNC or RDP viewer on has TCP_NODELAY set: without it each frame
waited for the viewer's delayed ACK (about 50 ms added per frame). Hundreds
of idle and slow-loris connections from a few addresses do not keep a real
user out (VNC, RDP and the web port), and vmgated's threads and descriptors come back down after them.

The option is read from vmgated's own descriptors (pidfd_getfd), found by
matching the socket inodes of /proc/PID/fd with /proc/net/tcp{,6} entries
that are established on the front end's port."""

import contextlib
import ctypes
import os
import socket
import subprocess
import threading
import time

import rfblogin
import test_web
from bridge import SHOT, shot
from test_vnc import Gateway
from vgtest import Guest, fail, run_tests

SYS_PIDFD_GETFD = 438  # x86_64
TCP_ESTABLISHED = "01"

libc = ctypes.CDLL(None, use_errno=True)


def established_inodes(port):
    """Socket inodes of established TCP connections whose local port is `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state == TCP_ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                    found.add(int(inode))
    return found


def daemon_sockets(pid, port):
    """vmgated's descriptors for established connections on `port`."""
    inodes = established_inodes(port)
    fds = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            fds.append(int(fd))
    return fds


@contextlib.contextmanager
def socket_of(pid, fd):
    """Another process's socket @fd, as a socket object of this one
    (pidfd_getfd: the same socket, not a copy of its state)."""
    pidfd = os.pidfd_open(pid)
    try:
        mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if mine < 0:
            fail("pidfd_getfd(%d, %d): %s" % (pid, fd, os.strerror(ctypes.get_errno())))
        try:
            s = socket.socket(fileno=mine)
            try:
                yield s
            finally:
                s.detach()
        finally:
            os.close(mine)
    finally:
        os.close(pidfd)


def nodelay_of(pid, fd):
    with socket_of(pid, fd) as s:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def check_live_viewer(gw, mode, port, *extra):
    """A viewer that stays logged in (the counter never holds still), and
    vmgated's socket to it."""
    out = os.path.join(gw.root, "%s.png" % mode.strip("-"))
    viewer = subprocess.Popen(
        [SHOT, mode, "127.0.0.1:%d" % port, "--user", "alice", "--password-file",
         os.path.join(gw.root, "alice.pw"), "--ca", gw.ca, "--output", out,
         "--wait-stable", "60000", "--timeout", "60", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            # Logged in: the session is listed.
            rc, text, _ = gw.d.ctl("session", "list")
            fds = daemon_sockets(gw.d.proc.pid, port)
            if rc == 0 and "alice" in text and fds:
                break
            if viewer.poll() is not None:
                fail("%s viewer ended early (exit %d): %s" %
                     (mode, viewer.returncode, viewer.stderr.read()))
            if time.monotonic() > deadline:
                fail("no logged-in %s viewer within 60 s" % mode)
            time.sleep(0.1)
        for fd in fds:
            if nodelay_of(gw.d.proc.pid, fd) == 0:
                fail("vmgated's %s socket (fd %d) to a live viewer has Nagle on" % (mode, fd))
    finally:
        viewer.kill()
        viewer.wait()
        viewer.stderr.close()


def test_live_viewer_sockets_have_nodelay():
    with Guest(run="counter,--fps,10") as g1, Guest() as g2, \
            Gateway(g1, g2, nla=True) as gw:
        g1.wait_serial(r"^VMGATE-WORK-STARTED counter$", timeout=90)
        check_live_viewer(gw, "--vnc", gw.d.vnc_port)
        check_live_viewer(gw, "--rdp", gw.d.rdp_port)


def daemon_counts(pid):
    """(threads, descriptors) of vmgated."""
    return len(os.listdir("/proc/%d/task" % pid)), len(os.listdir("/proc/%d/fd" % pid))


def open_attack(port, sources, per_source, trickle):
    """per_source connections from each source address: plain idle ones,
    and every other one a slow loris that sends `trickle` one byte a second
    from a thread. Returns (sockets, stop event)."""
    socks, stop = [], threading.Event()
    for src in sources:
        for i in range(per_source):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
            except OSError as e:
                fail("connect from %s: %s" % (src, e))
            socks.append((s, i % 2 == 1))

    def loris():
        for k in range(len(trickle)):
            for s, slow in socks:
                if slow:
                    try:
                        s.send(trickle[k:k + 1])
                    except OSError:
                        pass
            if stop.wait(1.0):
                return
    threading.Thread(target=loris, daemon=True).start()
    return socks, stop


def wait_back_to(pid, base, what):
    deadline = time.monotonic() + 30
    while True:
        now = daemon_counts(pid)
        if now[0] <= base[0] and now[1] <= base[1]:
            return
        if time.monotonic() > deadline:
            fail("after %s vmgated has %d threads and %d descriptors, %d and %d before" %
                 (what, now[0], now[1], base[0], base[1]))
        time.sleep(0.2)


def rdp_login(gw):
    """A whole RDP login with NLA, to the first frame, from 127.0.0.1."""
    out = os.path.join(gw.root, "rdp.png")
    rc, err = shot("--rdp", "127.0.0.1:%d" % gw.d.rdp_port, "--user", "alice", "--password-file",
                   os.path.join(gw.root, "alice.pw"), "--ca", gw.ca, "--output", out,
                   "--timeout", "20")
    if rc != 0:
        fail("RDP login: exit %d: %s" % (rc, err.strip()))


def test_idle_and_slow_connections_do_not_keep_users_out():
    sources = ["127.0.1.%d" % i for i in range(1, 11)]  # 10 addresses, 20 each
    with Guest() as g1, Guest() as g2, Gateway(g1, g2, nla=True) as gw:
        pid = gw.d.proc.pid
        # One login on each port first (pools start on first use), then the
        # baseline once no one is connected.
        t, _, _ = rfblogin.login("127.0.0.1", gw.d.vnc_port, "alice", gw.pw["alice"], gw.ca)
        t.close()
        rdp_login(gw)
        deadline = time.monotonic() + 30
        while "alice" in gw.d.ok("session", "list"):
            if time.monotonic() > deadline:
                fail("the warm-up viewers did not leave")
            time.sleep(0.2)
        base = daemon_counts(pid)
        # The web port's loris trickles a TLS ClientHello (a record header
        # announcing 512 bytes, then the hello's first bytes).
        for name, port, trickle in (("VNC", gw.d.vnc_port, b"RFB 003.008\n"),
                                    ("RDP", gw.d.rdp_port, b"\x03\x00\x00\x13\x0e\xe0"),
                                    ("web", gw.d.web_port,
                                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")):
            socks, stop = open_attack(port, sources, 20, trickle)
            try:
                t0 = time.monotonic()
                if name == "VNC":
                    t, w, h = rfblogin.login("127.0.0.1", port, "alice", gw.pw["alice"], gw.ca)
                    t.close()
                elif name == "web":
                    status, _ = test_web.Client(gw).login("alice", gw.pw["alice"])
                    if status != 200:
                        fail("web login: %d" % status)
                else:
                    rdp_login(gw)
                took = time.monotonic() - t0
                if took > 2.0:
                    fail("%s login took %.2f s with 200 idle and slow connections open" %
                         (name, took))
                # Every one of them is cut off by the login deadline (10 s).
                deadline = time.monotonic() + 30
                while not all(peer_closed(s) for s, _ in socks):
                    if time.monotonic() > deadline:
                        fail("%s: %d of the 200 connections still open after 30 s" %
                             (name, sum(not peer_closed(s) for s, _ in socks)))
                    time.sleep(0.5)
            finally:
                stop.set()
                for s, _ in socks:
                    s.close()
            wait_back_to(pid, base, "the %s connections went" % name)


def peer_closed(s):
    """True once the gateway has closed its end (EOF or reset); what it sent
    before (a greeting, a refusal) is read and dropped."""
    try:
        while True:
            if s.recv(4096, socket.MSG_DONTWAIT) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


if __name__ == "__main__":
    run_tests([test_live_viewer_sockets_have_nodelay,
               test_idle_and_slow_connections_do_not_keep_users_out])
