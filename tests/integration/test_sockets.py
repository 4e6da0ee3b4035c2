"""The gateway's side of live viewer connections: every TCP socket vmgated
talks to a logged-in VNC or RDP viewer on has TCP_NODELAY set. Without it each
frame waited for the viewer's delayed ACK (about 50 ms added per frame).

The option is read from vmgated's own descriptors (pidfd_getfd), found by
matching the socket inodes of /proc/PID/fd with /proc/net/tcp{,6} entries
that are established on the front end's port."""

import ctypes
import os
import socket
import subprocess
import time

from bridge import SHOT
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


def nodelay_of(pid, fd):
    pidfd = os.pidfd_open(pid)
    try:
        mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if mine < 0:
            fail("pidfd_getfd(%d, %d): %s" % (pid, fd, os.strerror(ctypes.get_errno())))
        try:
            s = socket.socket(fileno=mine)
            try:
                return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                s.detach()
        finally:
            os.close(mine)
    finally:
        os.close(pidfd)


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


if __name__ == "__main__":
    run_tests([test_live_viewer_sockets_have_nodelay])
