"""Faults under live sessions: a VM destroyed under its viewers, libvirtd
killed and restarted, the console's socket to QEMU cut, the store's file
system full or read-only, vmgated killed during admin mutations. Each test
checks that viewers get a clear end (or go on), that nothing acknowledged is
lost, and that new logins work afterwards.

Each test prints a line for the reliability report:

    FAULT-FIGURES test=NAME faults=N acknowledged=N lost=N ...

It restarts libvirtd (test_libvirtd_killed_and_restarted): nothing else
may run meanwhile (scripts hold /tmp/vmgate-integration.lock)."""

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import types

import libvirt

import rfblogin
from bridge import Daemon, free_port
from test_lifecycle import restart_libvirtd
from test_metrics import scrape, value
from test_rdp import RdpGateway
from test_sockets import socket_of
from test_vnc import rfb_type
from vgtest import URI, Guest, fail, run_tests


TOTALS = {"faults": 0, "acknowledged": 0, "lost": 0}


def figures(test, **kv):
    """One line of figures for the report (docs/RELIABILITY.md); the totals
    line at the end adds up faults, acknowledged mutations and items lost."""
    for k in TOTALS:
        TOTALS[k] += int(kv.get(k, 0))
    print("FAULT-FIGURES test=%s %s" % (test, " ".join("%s=%s" % i for i in kv.items())),
          flush=True)


class FaultGateway(RdpGateway):
    """The RDP tests' gateway (alice owns vm1, bob owns vm2 and observes vm1,
    NLA users: VNC and RDP both work), a user's second login joins the
    first, metrics on. @state_fs: a file system to mount on the state
    directory before vmgated starts (a callable given the path)."""

    def __init__(self, g1, g2, state_fs=None):
        self.metrics_port = free_port()
        super().__init__(g1, g2, extra="[policy]\nsecond_login = join\n"
                         "[metrics]\nenabled = true\nport = %d\n" % self.metrics_port)
        if state_fs:
            os.mkdir(self.d.state, 0o700)
            state_fs(self.d.state)

    def metric(self, name, **labels):
        return value(scrape(self.metrics_port), name, **labels)

    def viewers(self, user=None, vm=None):
        """[(user, protocol)] of the live viewers (of @vm), by @user."""
        rc, out, _ = self.d.ctl("session", "list", json_out=True)
        if rc != 0:
            return []
        return [(v["user"], v["protocol"]) for s in json.loads(out)
                if vm is None or s["vm"] == vm for v in s.get("viewers", [])
                if user is None or v["user"] == user]

    @contextlib.contextmanager
    def alice_viewing(self, bob=True):
        """alice's VNC and RDP viewers of vm1 and, with @bob, bob's VNC viewer
        of vm2, once both of alice's have joined. Yields a namespace: vnc, w, h
        (alice's VNC socket and screen size), rdp (her vmgate-shot --rdp
        process), other, ow, oh (bob's, or None). They are closed, killed
        and reaped on the way out."""
        v = types.SimpleNamespace(other=None)
        v.vnc, v.w, v.h = self.vnc_login("alice")
        v.rdp = self.rdp_viewer("alice", os.path.join(self.root, "rdp.png"), "--wait-stable",
                                "600000", "--timeout", "300")
        try:
            if bob:
                v.other, v.ow, v.oh = self.vnc_login("%s/bob" % self.g2.name)
            self.wait_viewers(2, "alice", self.g1.name, procs=[v.rdp])
            yield v
        finally:
            v.vnc.close()
            if v.other:
                v.other.close()
            if v.rdp.poll() is None:
                v.rdp.kill()
            v.rdp.wait()
            v.rdp.stderr.close()

    def wait_viewers(self, n, user, vm, procs=(), timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.viewers(user, vm)) < n:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                fail("a viewer ended early (exit %d): %s" % (dead[0].returncode,
                                                             dead[0].stderr.read()))
            if time.monotonic() > deadline:
                fail("%d viewers of %s by %s did not log in within %ss: %r" %
                     (n, vm, user, timeout, self.viewers()))
            time.sleep(0.1)

    def vnc_login(self, login, timeout=60):
        """An RFB login (retried while refused: the VM's console may still be
        opening); returns (socket, width, height)."""
        user = login.split("/")[-1]
        deadline = time.monotonic() + timeout
        while True:
            try:
                return rfblogin.login("127.0.0.1", self.d.vnc_port, login, self.pw[user],
                                      self.ca)
            except (rfblogin.LoginRefused, ConnectionError) as e:
                if time.monotonic() > deadline:
                    fail("VNC login %s: %s" % (login, e))
            time.sleep(0.2)

    def rdp_login(self, user, tag):
        """A whole RDP login to the first frame."""
        rc, err = self.rdp_shot(user, os.path.join(self.root, tag + ".png"), "--timeout", "60")
        if rc != 0:
            fail("RDP login %s (%s): exit %d: %s" % (user, tag, rc, err.strip()))

    def logouts(self, user, vm):
        return [r for r in self.audit() if r.get("event") == "logout" and
                r.get("user") == user and r.get("vm") == vm]


class EndWatch(threading.Thread):
    """Waits for a viewer's end: EOF on an RFB socket that has asked for
    nothing, or a vmgate-shot process's exit. .ended is the monotonic time."""

    def __init__(self, sock=None, proc=None, limit=60):
        super().__init__(daemon=True)
        self.sock, self.proc, self.limit = sock, proc, limit
        self.ended = None
        self.start()

    def run(self):
        if self.proc:
            try:
                self.proc.wait(timeout=self.limit)
            except subprocess.TimeoutExpired:
                return
        else:
            self.sock.settimeout(self.limit)
            try:
                while self.sock.recv(65536):
                    pass
            except socket.timeout:
                return
            except (ConnectionError, ssl.SSLError, OSError):
                pass
        self.ended = time.monotonic()

    def took(self, since):
        self.join(self.limit + 5)
        return None if self.ended is None else self.ended - since


def still_live(gw, t, w, h, g, tag):
    """The viewer on RFB socket @t still works: what it types reaches guest
    @g, and it is sent a frame when it asks for one."""
    off = g.serial_offset()
    token = "%s%08x" % (tag, random.getrandbits(32))
    rfb_type(t, "echo %s >/dev/ttyS0\n" % token)
    g.wait_serial("^%s$" % token, timeout=30, since=off)
    t.settimeout(30)
    t.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))
    try:
        first = rfblogin.recv_exact(t, 1)
    except (ConnectionError, OSError) as e:
        fail("%s: the viewer's connection ended: %s" % (tag, e))
    if first != b"\x00":
        fail("%s: no FramebufferUpdate: %r" % (tag, first))


def reopen(g):
    """A new libvirt connection for guest @g (after libvirtd's restart)."""
    g.__dict__.pop("is_running", None)
    g.conn = libvirt.open(URI)
    g.dom = g.conn.lookupByName(g.name)


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if r:
            return r
        if time.monotonic() > deadline:
            fail("%s not seen within %ss" % (what, timeout))
        time.sleep(0.1)


# -- the VM destroyed under its viewers -------------------------------------------------------


def test_vm_destroyed_mid_session():
    """alice views vm1 over VNC and RDP, bob views vm2: vm1 is destroyed.
    alice's viewers end within 2 s with the reason audited; bob's goes on;
    vm1 defined again takes new logins over both protocols."""
    with Guest() as g1, Guest() as g2, FaultGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        with gw.alice_viewing() as v:
            vnc, rdp, other, w, h = v.vnc, v.rdp, v.other, v.ow, v.oh
            watches = {"VNC": EndWatch(sock=vnc), "RDP": EndWatch(proc=rdp)}
            # Timed from when libvirt has destroyed the VM: the destroy itself
            # (QEMU told to quit, then killed) takes a second or more here.
            asked = time.monotonic()
            g1.dom.destroy()
            gone = time.monotonic()
            for proto, wt in watches.items():
                took = wt.took(gone)
                if took is None:
                    fail("alice's %s viewer still connected 60 s after vm1 was destroyed" % proto)
                print("%s viewer ended %.2f s after the destroy (%.2f s after it was asked for)" %
                      (proto, took, took + gone - asked), flush=True)
                if took > 2:
                    fail("alice's %s viewer ended %.2f s after the destroy, want <= 2" %
                         (proto, took))
            if rdp.returncode == 0:
                fail("vmgate-shot --rdp exited 0 when its VM was destroyed")
            ends = wait_for("two logouts of alice's viewers saying vm1 was destroyed", lambda: [
                r for r in gw.logouts("alice", g1.name)
                if r.get("reason") == "the VM was powered off (destroyed)"
            ] if len(gw.logouts("alice", g1.name)) >= 2 else None, 10)
            if sorted(r.get("protocol") for r in ends) != ["rdp", "vnc"]:
                fail("logouts of alice's viewers: %r" % gw.logouts("alice", g1.name))
            # bob, on vm2, saw nothing of it.
            still_live(gw, other, w, h, g2, "other")
            if gw.logouts("bob", g2.name):
                fail("bob's viewer of vm2 was ended: %r" % gw.logouts("bob", g2.name))
        # vm1 again, under the same name: new logins over VNC and RDP.
        with Guest(name=g1.name) as again:
            again.wait_ready()
            t, w, h = gw.vnc_login("alice")
            try:
                still_live(gw, t, w, h, again, "again")
            finally:
                t.close()
            gw.rdp_login("alice", "again")
        figures("vm_destroyed", faults=1, viewers_ended=2, viewers_unaffected=1, lost=0)


# -- libvirtd killed ---------------------------------------------------------------------------


def test_libvirtd_killed_and_restarted():
    """libvirtd SIGKILLed under live VNC and RDP viewers and started again as
    it was: vmgated says it lost libvirt (the gauge drops to 0) and is
    connected again within 5 s of libvirtd answering. The viewers go on
    throughout (their consoles are sockets to QEMU, which lives on): what
    they type arrives, they are sent frames. New logins work."""
    with Guest() as g1, Guest() as g2, FaultGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        wait_for("vmgate_libvirt_connected 1", lambda: gw.metric("vmgate_libvirt_connected") == 1,
                 30)
        with gw.alice_viewing(bob=False) as v:
            vnc, rdp, w, h = v.vnc, v.rdp, v.w, v.h
            lost = {}

            def while_down():
                lost["at"] = wait_for(
                    "vmgate_libvirt_connected 0 after libvirtd was killed",
                    lambda: gw.metric("vmgate_libvirt_connected") == 0 and time.monotonic(), 10)
                # Listing VMs says why it cannot (it used to list the VMs
                # last seen, and an assignment checked against that list was
                # refused for a VM created meanwhile).
                rc, _, err = gw.d.ctl("vm", "list")
                if rc == 0 or "the hypervisor is not reachable" not in err:
                    fail("vm list without libvirtd: exit %d: %r" % (rc, err))
                # The sessions do not depend on libvirtd. (The guest's own
                # libvirt connection is gone: it cannot tell whether it runs.)
                g1.is_running = lambda: True
                still_live(gw, vnc, w, h, g1, "down")

            started, answering = restart_libvirtd(signal.SIGKILL, while_down)
            reopen(g1)
            reopen(g2)
            back = wait_for("vmgate_libvirt_connected 1 after libvirtd's restart",
                            lambda: gw.metric("vmgate_libvirt_connected") == 1 and
                            time.monotonic(), 30)
            print("libvirtd answered %.2f s after its start; vmgated connected %.2f s after "
                  "that" % (answering - started, back - answering), flush=True)
            if back - answering > 5:
                fail("vmgated reconnected %.1f s after libvirtd answered, want <= 5" %
                     (back - answering))
            # The log says so too.
            with open(gw.d.log) as f:
                log = f.read()
            if "libvirt: %s: disconnected" % URI not in log or \
                    log.count("libvirt: %s: connected" % URI) < 2:
                fail("vmgated's log does not tell the disconnection and the reconnection:\n%s" %
                     gw.d.log_tail(30))
            # Admin commands that need libvirt work again.
            listed = json.loads(gw.d.ok("vm", "list", json_out=True))
            if not {g1.name, g2.name} <= {v["name"] for v in listed}:
                fail("vm list after the restart: %r" % listed)
            # The live viewers went on: no logout, input and frames flow.
            still_live(gw, vnc, w, h, g1, "after")
            if rdp.poll() is not None:
                fail("the RDP viewer ended (exit %d): %s" % (rdp.returncode, rdp.stderr.read()))
            if gw.logouts("alice", g1.name):
                fail("alice's viewers were ended: %r" % gw.logouts("alice", g1.name))
            gw.d.ok("send-keys", g1.name, "echo ok\n")  # through the new libvirt connection
        t, w, h = gw.vnc_login("%s/bob" % g2.name)
        try:
            still_live(gw, t, w, h, g2, "new")
        finally:
            t.close()
        gw.rdp_login("alice", "new")
        figures("libvirtd_killed", faults=1, reconnect_s="%.2f" % (back - answering),
                viewers_kept=2, lost=0)


# -- the console's socket to QEMU cut ---------------------------------------------------------


def unix_peers():
    """{socket inode: peer socket inode} of the host's Unix stream sockets."""
    out = subprocess.run(["ss", "-Hxa"], stdout=subprocess.PIPE, text=True, check=True).stdout
    peers = {}
    for line in out.splitlines():
        cols = line.split()
        # Netid State Recv-Q Send-Q Local Port Peer Port
        if len(cols) >= 8 and cols[0] == "u_str":
            try:
                peers[int(cols[5])] = int(cols[7])
            except ValueError:
                pass
    return peers


def socket_inodes(pid):
    """{inode: fd} of @pid's sockets."""
    found = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            found[int(target[8:-1])] = int(fd)
    return found


def qemu_pid(name):
    with open("/run/libvirt/qemu/%s.pid" % name) as f:
        return int(f.read().strip())


def console_fds(gw, g):
    """vmgated's descriptors of sockets whose other end QEMU of @g holds:
    its console of that VM."""
    peers = unix_peers()
    mine = socket_inodes(gw.d.proc.pid)
    qemu = set(socket_inodes(qemu_pid(g.name)))
    return [fd for ino, fd in mine.items() if peers.get(ino) in qemu]


def shutdown_fd_of(pid, fd):
    """shutdown(2) a socket of another process."""
    with socket_of(pid, fd) as s:
        s.shutdown(socket.SHUT_RDWR)


# A console's socket that ends while libvirt still says the VM runs is given
# 1.5 s for libvirt to learn why (vmm-bridge/registry.c, VG_LOST_GRACE_US)
# before its viewers are ended: then they are at once.
CUT_END_S = 2.0


def test_console_socket_cut_under_viewers():
    """vmgated's console socket to vm1's QEMU is shut down under alice's VNC
    and RDP viewers: they end within CUT_END_S saying the connection to the VM's
    display was lost (audited); vmgated opens the console again by itself
    (vmgate_console_reconnects_total counts it), new logins to vm1 work, and
    bob's viewer of vm2 goes on."""
    with Guest() as g1, Guest() as g2, FaultGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        with gw.alice_viewing() as v:
            vnc, rdp, other, w, h = v.vnc, v.rdp, v.other, v.ow, v.oh
            fds = console_fds(gw, g1)
            if len(fds) != 1:
                fail("want one vmgated socket to vm1's QEMU, found fds %r" % fds)
            before = gw.metric("vmgate_console_reconnects_total") or 0
            watches = {"VNC": EndWatch(sock=vnc), "RDP": EndWatch(proc=rdp)}
            shutdown_fd_of(gw.d.proc.pid, fds[0])
            cut = time.monotonic()
            for proto, wt in watches.items():
                took = wt.took(cut)
                if took is None:
                    fail("alice's %s viewer still connected 60 s after the cut" % proto)
                print("%s viewer ended %.2f s after the cut" % (proto, took), flush=True)
                if took > CUT_END_S:
                    fail("alice's %s viewer ended %.2f s after the cut, want <= %s" %
                         (proto, took, CUT_END_S))
            reason = "the connection to the VM's display was lost"
            wait_for("two logouts saying %r" % reason, lambda: len(
                [r for r in gw.logouts("alice", g1.name) if r.get("reason") == reason]) == 2, 10)
            wait_for("vmgate_console_reconnects_total to grow", lambda: (
                gw.metric("vmgate_console_reconnects_total") or 0) > before, 30)
            if len(console_fds(gw, g1)) != 1:
                fail("no new console socket to vm1's QEMU")
            still_live(gw, other, w, h, g2, "other")
        t, w, h = gw.vnc_login("alice")
        try:
            still_live(gw, t, w, h, g1, "again")
        finally:
            t.close()
        gw.rdp_login("alice", "again")
        figures("console_cut", faults=1, viewers_ended=2, viewers_unaffected=1, lost=0)


# -- the store's file system full or read-only ------------------------------------------------


def store_state(d):
    """What the store holds, as vmgatectl lists it: {"users": {name: (disabled,
    assignments, pools)}, "pools": [names]}."""
    users = {}
    for u in json.loads(d.ok("user", "list", json_out=True)):
        users[u["name"]] = (u.get("disabled", False),
                            sorted((a["vm"], a["role"]) for a in u.get("assignments", [])),
                            sorted(u.get("pools", [])))
    pools = sorted(p["name"] for p in json.loads(d.ok("pool", "list", json_out=True)))
    return {"users": users, "pools": pools}


def store_mutations(tag, vm):
    """Admin mutations of several kinds, each of which can be done whether
    or not the others were (carol is assigned @vm before), the names they
    create unique to @tag."""
    return [("user", "add", "u-" + tag, "--password-stdin"),
            ("pool", "create", "p-" + tag),
            ("user", "passwd", "carol", "--password-stdin"),
            ("assign", "carol", vm, "--role", "controller"),
            ("assign", "carol", vm, "--role", "observer"),
            ("user", "disable", "bob"),
            ("user", "enable", "bob")]


def run_mutation(d, m):
    return d.ctl(*m, input="secret-%s-1\n" % m[-2] if "--password-stdin" in m else None)


def check_logins_work(gw, g1, tag):
    """alice, who was there before the fault, logs in over VNC and works."""
    t, w, h = gw.vnc_login("alice")
    try:
        still_live(gw, t, w, h, g1, tag)
    finally:
        t.close()


def store_fault(gw, g1, g2, cause, inject, want_error):
    """Mutations refused with an error naming @cause once @inject() has run;
    what was committed before stays; alice still logs in. Returns (state
    before, mutations refused, mutations acknowledged meanwhile)."""
    g1.wait_ready()
    gw.d.ok("pool", "create", "p-before")
    gw.d.ok("assign", "carol", g2.name, "--role", "observer")
    before = store_state(gw.d)
    inject()
    # A mutation may still fit where the file system has room for it (pages
    # of the write-ahead log written before are rewritten in place): run
    # rounds until they fail, each acknowledged one being kept.
    refused, acked = [], []
    for i in range(40):
        for m in store_mutations("%s%d" % (cause, i), g2.name):
            rc, out, err = run_mutation(gw.d, m)
            if rc == 0:
                acked.append(m)
                continue
            if want_error not in err:
                fail("%s refused without naming the cause (%r): exit %d: %r" %
                     (" ".join(m), want_error, rc, err.strip()))
            refused.append(m)
        if len(refused) >= 3:
            break
    else:
        fail("mutations still succeed with the store's file system %s" % cause)
    print("store %s: %d mutations refused, e.g. %r; acknowledged meanwhile: %r" %
          (cause, len(refused), err.strip(), [" ".join(m) for m in acked]), flush=True)
    check_logins_work(gw, g1, cause)
    return before, refused, acked


def check_kept(d, before, acked_names, refused_names):
    """After a restart: everything committed before is there, the users and
    pools acknowledged meanwhile too, and none whose creation was refused."""
    after = store_state(d)
    for user, facts in before["users"].items():
        if user not in after["users"]:
            fail("user %s lost" % user)
        if facts[1:] != after["users"][user][1:] and user != "carol":
            fail("user %s changed: %r -> %r" % (user, facts, after["users"][user]))
    lost = [p for p in before["pools"] if p not in after["pools"]]
    names = set(after["users"]) | set(after["pools"])
    lost += [n for n in acked_names if n not in names]
    if lost:
        fail("lost from the store: %r" % lost)
    back = [n for n in refused_names if n in names]
    if back:
        fail("refused mutations were committed after all: %r" % back)
    return 0


def created_names(ms):
    return [m[2] for m in ms if m[1] in ("add", "create")]


def mount_tmpfs(size):
    def mount(path):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       check=True)
    return mount


def fill(directory):
    """Fill @directory's file system; returns the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return path


def test_store_file_system_full():
    """vmgated's state directory on a 4 MiB tmpfs that fills up: admin
    mutations are refused saying the store's file system is full, alice
    still logs in and types, the store keeps everything it had; once there
    is room again mutations work, and a restart finds all that was
    acknowledged."""
    with Guest() as g1, Guest() as g2:
        gw = FaultGateway(g1, g2, state_fs=mount_tmpfs("4m"))
        try:
            with gw:
                filler = []
                before, refused, acked = store_fault(
                    gw, g1, g2, "full", lambda: filler.append(fill(gw.d.state)),
                    "file system is full")
                os.unlink(filler[0])
                again = store_mutations("room", g2.name)
                for m in again:
                    rc, _, err = run_mutation(gw.d, m)
                    if rc != 0:
                        fail("%s once there is room again: exit %d: %s" %
                             (" ".join(m), rc, err.strip()))
            with gw.d:
                check_kept(gw.d, before, created_names(acked + again), created_names(refused))
        finally:
            subprocess.run(["umount", "-l", gw.d.state], check=False)
    figures("store_full", faults=1, refused=len(refused), acknowledged=len(acked) + len(again),
            lost=0)


def ext4_image(root):
    """A mount function for a 32 MiB ext4 file system in a file under @root
    that turns read-only on error, and a function that makes it so."""
    img = os.path.join(root, "state.img")
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)

    def mount(path):
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", img, path], check=True)

    def make_read_only(path):
        dev = [l.split()[0] for l in open("/proc/mounts") if l.split()[1] == path][0]
        with open("/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev), "w") as f:
            f.write("vmgate fault test\n")
        # (Linux 6.x says emergency_ro where older kernels said ro.)
        wait_for("%s read-only" % path, lambda: any(
            l.split()[1] == path and {"ro", "emergency_ro"} & set(l.split()[3].split(","))
            for l in open("/proc/mounts")), 10)

    def repair(path):
        subprocess.run(["umount", path], check=True)
        p = subprocess.run(["e2fsck", "-fy", img], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if p.returncode not in (0, 1):
            fail("e2fsck: exit %d: %s" % (p.returncode, p.stdout))
        mount(path)

    return mount, make_read_only, repair


def test_store_file_system_read_only():
    """The state directory's ext4 turns read-only under vmgated (an error with
    errors=remount-ro): admin mutations are refused saying the store is
    read-only, alice still logs in and types; vmgated stops cleanly; with the
    file system repaired, a restarted vmgated has everything that was
    committed and takes mutations again."""
    root = tempfile.mkdtemp(prefix="vgfault-")
    mount, make_read_only, repair = ext4_image(root)
    with Guest() as g1, Guest() as g2:
        gw = FaultGateway(g1, g2, state_fs=mount)
        try:
            with gw:
                before, refused, acked = store_fault(gw, g1, g2, "ro",
                                                     lambda: make_read_only(gw.d.state),
                                                     "file system is read-only")
            repair(gw.d.state)
            with gw.d:
                check_kept(gw.d, before, created_names(acked), created_names(refused))
                again = store_mutations("rw", g2.name)
                for m in again:
                    rc, _, err = run_mutation(gw.d, m)
                    if rc != 0:
                        fail("%s after the repair: exit %d: %s" % (" ".join(m), rc, err.strip()))
        finally:
            subprocess.run(["umount", "-l", gw.d.state], check=False)
            os.unlink(os.path.join(root, "state.img"))
    figures("store_read_only", faults=1, refused=len(refused), acknowledged=len(acked) + len(again),
            lost=0)


# -- vmgated SIGKILLed during admin mutations -------------------------------------------------

KILL_ROUNDS = int(os.environ.get("VMGATE_FAULTS_KILLS", "40"))


def test_sigkill_during_mutations_of_every_kind():
    """Two vmgatectl loops add users, create pools, assign, entitle and
    disable while vmgated is SIGKILLed at random moments (a bounded number
    of times): every mutation acknowledged (exit 0) is in the store after a
    restart. test_durability does the same at length with pools only."""
    root = tempfile.mkdtemp(prefix="vgfault-")
    seed = int(os.environ.get("VMGATE_FAULTS_SEED", "0")) or random.randrange(1 << 30)
    print("seed %d" % seed, flush=True)
    rng = random.Random(seed)
    d = Daemon(root)
    # libvirt out of reach: VM names are taken on trust, no console opens.
    d.write_config("")
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("uri = qemu:///system",
                             "uri = qemu:///system?socket=%s/no-such.sock" % root, 1))
    lock = threading.Lock()
    facts, users, pools = set(), [], []
    counts = {"attempts": 0, "acknowledged": 0, "unreachable": 0, "refused": 0}
    stop = threading.Event()

    def mutate(wrng, wid, i):
        with lock:
            u = wrng.choice(users) if users else None
            p = wrng.choice(pools) if pools else None
        kind = wrng.choice(["user", "user", "pool", "assign", "entitle", "disable"])
        if kind == "user" or u is None:
            name = "u%d-%04d" % (wid, i)
            return ("user", name), ("user", "add", name, "--password-stdin"), "pw-%s-1\n" % name
        if kind == "pool" or (kind == "entitle" and p is None):
            name = "p%d-%04d" % (wid, i)
            return ("pool", name), ("pool", "create", name), None
        if kind == "assign":
            vm = "vm-%d" % wrng.randrange(20)
            return ("assign", u, vm), ("assign", u, vm), None
        if kind == "entitle":
            return ("entitle", u, p), ("entitle", u, p), None
        return ("disabled", u), ("user", "disable", u), None

    def worker(wid):
        wrng = random.Random(seed + wid)
        for i in range(100000):
            if stop.is_set():
                return
            fact, args, stdin = mutate(wrng, wid, i)
            rc, _, err = d.ctl(*args, input=stdin)
            with lock:
                counts["attempts"] += 1
                if rc == 0:
                    counts["acknowledged"] += 1
                    facts.add(fact)
                    if fact[0] == "user":
                        users.append(fact[1])
                    elif fact[0] == "pool":
                        pools.append(fact[1])
                elif rc == 3:
                    counts["unreachable"] += 1
                elif rc == 1 and "is already entitled to pool" in err:
                    counts["refused"] += 1  # an entitlement drawn twice
                else:
                    counts["bad"] = "%s: exit %d: %s" % (" ".join(args), rc, err.strip())

    d.start()
    workers = [threading.Thread(target=worker, args=(w,)) for w in (1, 2)]
    for w in workers:
        w.start()
    kills = 0
    try:
        while kills < KILL_ROUNDS and all(w.is_alive() for w in workers):
            time.sleep(rng.uniform(0.05, 0.5))
            d.stop(signal.SIGKILL)
            kills += 1
            d.start()
        stop.set()
        for w in workers:
            w.join(timeout=120)
        if any(w.is_alive() for w in workers):
            fail("a mutation loop did not stop")
        if "bad" in counts:
            fail(counts["bad"])
        d.stop(signal.SIGKILL)
        kills += 1
        d.start()
        have = set()
        for u in json.loads(d.ok("user", "list", json_out=True)):
            have.add(("user", u["name"]))
            if u.get("disabled"):
                have.add(("disabled", u["name"]))
            have |= {("assign", u["name"], a["vm"]) for a in u.get("assignments", [])}
            have |= {("entitle", u["name"], p) for p in u.get("pools", [])}
        have |= {("pool", p["name"]) for p in json.loads(d.ok("pool", "list", json_out=True))}
        lost = facts - have
        figures("sigkill_mutations", faults=kills, mutations=counts["attempts"],
                acknowledged=counts["acknowledged"], unreachable=counts["unreachable"],
                refused=counts["refused"], lost=len(lost))
        if lost:
            fail("%d acknowledged mutations are missing, e.g. %s" % (len(lost), sorted(lost)[:5]))
        if counts["acknowledged"] < 5 * kills:
            fail("the run was too small to mean anything (%d acknowledged, %d kills)" %
                 (counts["acknowledged"], kills))
        if d.stop() != 0:
            fail("vmgated did not stop cleanly: %s" % d.log_tail())
        d.check_sanitizer_reports()
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
        if d.proc:
            d.stop(signal.SIGKILL)


def run_all(tests):
    try:
        run_tests(tests)
    finally:
        print("FAULT-FIGURES total faults=%(faults)d acknowledged=%(acknowledged)d lost=%(lost)d"
              % TOTALS, flush=True)


if __name__ == "__main__":
    run_all([test_vm_destroyed_mid_session,
             test_libvirtd_killed_and_restarted,
             test_console_socket_cut_under_viewers,
             test_store_file_system_full,
             test_store_file_system_read_only,
             test_sigkill_during_mutations_of_every_kind])
