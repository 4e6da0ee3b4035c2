"""Two vmgated instances, A on 127.0.0.11 and B on 127.0.0.12, sharing one
PostgreSQL store (a private cluster of tests/lib/pgcluster), each serving one
test guest of the same libvirtd ([libvirt] vms): each lists both instances
up and the other's VM with its instance; B killed is down within 5 s and its
VM unreachable (not shut off); B started again is up with its VM back; B
stopped cleanly is stopped at once. The audit is shared: what happens on B
(an admin command, a failed login) is in `vmgatectl audit` on A, with B's
name, also when it happened while the database was down; and A, the
database down, answers from its own file with a note.

Live sessions across instances: A (serving no VM) lists B's VNC viewer with
its instance, kicks it over the store's bus and B ends it within a second;
unassigning or disabling the user through A ends their viewer on B within
two seconds; a kick for an unknown viewer or a stopped instance fails with
a reason, and a stopped instance's viewers are not listed."""

import contextlib
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import rfblogin
from bridge import SHOT, Daemon
from vgtest import Guest, fail, run_tests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKCERTS = os.path.join(REPO, "certs", "mkcerts")
PGCLUSTER = os.path.join(REPO, "tests", "lib", "pgcluster")

# The bound: an instance that stops beating is shown down within this.
DOWN_WITHIN = 5.0


class PgCluster:
    """A private PostgreSQL cluster in @root/pg with a database for the
    instances, removed on exit."""

    def __init__(self, root):
        self.dir = os.path.join(root, "pg")

    def run(self, *args):
        return subprocess.run([PGCLUSTER, "--dir", self.dir] + list(args), check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=120).stdout.strip()

    def __enter__(self):
        try:
            self.run("up")
            base = self.run("dsn")
            self.password_file = os.path.join(self.dir, "password")
            with open(self.password_file) as f:
                password = f.readline().strip()
            subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc",
                            "CREATE DATABASE vginstances ENCODING 'UTF8' TEMPLATE template0"],
                           check=True, env=dict(os.environ, PGPASSWORD=password), timeout=60,
                           stdout=subprocess.DEVNULL)
            self.dsn = base + " dbname=vginstances"
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run([PGCLUSTER, "--dir", self.dir, "down"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        return False


@contextlib.contextmanager
def cluster_root(prefix, *addresses):
    """A new directory for a test's instances and cluster, removed on the
    way out, with development certificates in root/certs naming
    @addresses too. Yields (root, certs)."""
    root = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chmod(root, 0o755)  # the cluster's server runs as postgres
        certs = os.path.join(root, "certs")
        subprocess.run([MKCERTS] + [a for ip in addresses for a in ("--ip", ip)] + [certs],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield root, certs
    finally:
        shutil.rmtree(root, ignore_errors=True)


def instance(root, name, address, vms, pg, certs):
    """vmgated as instance @name on @address, on @pg's store, serving only @vms: a Guest
    (that VM), a [libvirt] vms pattern, or None (no VM)."""
    pattern = vms.name if hasattr(vms, "name") else (vms or "vginst-no-vm-*")
    d = Daemon(os.path.join(root, name), extra=(
        "[instance]\nname = %s\naddress = %s\n\n"
        "[libvirt]\nvms = %s\n\n"
        "[vnc]\nlisten = %s\n\n[web]\nlisten = %s\n\n[rdp]\nlisten = %s\n\n"
        "[store]\nbackend = postgresql\ndsn = %s\npassword_file = %s\n\n"
        "[tls]\ncertificate = %s\nkey = %s\n") % (
            name, address, pattern, address, address, address, pg.dsn, pg.password_file,
            os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")))
    return d


def instances(d):
    return {i["name"]: i for i in json.loads(d.ok("instance", "list", json_out=True))}


def vms(d):
    return {v["name"]: v for v in json.loads(d.ok("vm", "list", json_out=True))}


def wait_for(what, check, timeout):
    """Poll @check (a function returning a true value or None) until it is true, at
    most @timeout seconds; fail naming @what and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            fail("%s: not within %.1fs" % (what, timeout))
        time.sleep(0.1)


def test_instances_see_each_other_go_down_and_come_back():
    with cluster_root("vginst-") as (root, certs):
        with PgCluster(root) as pg, Guest() as ga, Guest() as gb:
            os.makedirs(os.path.join(root, "gw-a"))
            os.makedirs(os.path.join(root, "gw-b"))
            a = instance(root, "gw-a", "127.0.0.11", ga.name, pg, certs)
            b = instance(root, "gw-b", "127.0.0.12", gb.name, pg, certs)
            with a, b:
                a.wait_vm(ga.name)
                b.wait_vm(gb.name)

                # Both up, as each registered itself: its address, the ports it serves and,
                # from its next heartbeat on, its VM.
                def both_up():
                    i = instances(a)
                    return i if (set(i) == {"gw-a", "gw-b"} and
                                 all(x["status"] == "up" and x["vms"] == 1
                                     for x in i.values())) else None
                i = wait_for("instance list on A shows gw-a and gw-b up with a VM each", both_up,
                             10)
                for name, d, address in (("gw-a", a, "127.0.0.11"), ("gw-b", b, "127.0.0.12")):
                    got = i[name]
                    want = {"address": address, "vnc_port": d.vnc_port, "rdp_port": d.rdp_port,
                            "web_port": d.web_port, "vms": 1, "self": name == "gw-a"}
                    if {k: got.get(k) for k in want} != want:
                        fail("instance list on A: %s is %r, want %r" % (name, got, want))
                    if not 0 <= got["heartbeat_age_ms"] < 3000:
                        fail("%s's heartbeat is %d ms old" % (name, got["heartbeat_age_ms"]))

                # A lists its own VM from libvirt and B's from the store, each with its instance.
                def b_vm_on_a():
                    v = vms(a).get(gb.name)
                    return v if v and v["instance"] == "gw-b" and v["state"] == "running" \
                        else None
                wait_for("vm list on A shows %s running on gw-b" % gb.name, b_vm_on_a, 10)
                mine = vms(a)[ga.name]
                if mine["instance"] != "gw-a" or mine["state"] != "running" or \
                        mine["viewers"] != 0:
                    fail("vm list on A: its own VM is %r" % mine)
                if vms(b)[ga.name]["instance"] != "gw-a":
                    fail("vm list on B does not show %s on gw-a" % ga.name)

                # B killed: no clean exit, its heartbeat just stops.
                b.proc.kill()
                b.proc.wait()
                b.proc = None
                t0 = time.monotonic()

                def b_down():
                    i, v = instances(a)["gw-b"], vms(a).get(gb.name)
                    return (i, v) if i["status"] == "down" and v and \
                        v["state"] == "unreachable" and v["instance"] == "gw-b" else None
                i, v = wait_for("A shows gw-b down and %s unreachable" % gb.name, b_down,
                                DOWN_WITHIN)
                print("  gw-b shown down %.1fs after SIGKILL (heartbeat %d ms old)" %
                      (time.monotonic() - t0, i["heartbeat_age_ms"]), flush=True)
                if instances(a)["gw-a"]["status"] != "up":
                    fail("gw-a is not up while gw-b is down")

                # B again: up, its VM back.
                b.start()
                b.wait_vm(gb.name)
                wait_for("A shows gw-b up again", lambda: instances(a)["gw-b"]["status"] == "up",
                         10)
                wait_for("vm list on A shows %s running on gw-b again" % gb.name, b_vm_on_a, 10)

                # A clean stop says so at once: stopped, not down, and its VM unreachable.
                if b.stop() != 0:
                    fail("gw-b did not stop cleanly: %s" % b.log_tail())
                i = instances(a)["gw-b"]
                if i["status"] != "stopped":
                    fail("gw-b after a clean stop: %r" % i)
                if vms(a)[gb.name]["state"] != "unreachable":
                    fail("gw-b's VM after its clean stop: %r" % vms(a)[gb.name])

            # Every audit record names the instance that wrote it.
            with open(a.audit) as f:
                records = [json.loads(l) for l in f]
            if not records or any(r.get("instance") != "gw-a" for r in records):
                fail("A's audit records do not all name gw-a: %r" % records[:3])


def audit_of(d, lines=100):
    """The records `vmgatectl audit` on @d prints, as dicts."""
    return json.loads(d.ok("audit", "--lines", str(lines), json_out=True))


def file_records(d):
    with open(d.audit) as f:
        return [json.loads(l) for l in f if l.strip()]


def test_audit_on_any_instance_shows_all():
    # B's VNC port is on 127.0.0.12: its certificate names that address.
    with cluster_root("vginst-", "127.0.0.11", "127.0.0.12") as (root, certs):
        with PgCluster(root) as pg:
            os.makedirs(os.path.join(root, "gw-a"))
            os.makedirs(os.path.join(root, "gw-b"))
            # No VM for either: the audit needs none.
            a = instance(root, "gw-a", "127.0.0.11", "vgaudit-none-*", pg, certs)
            b = instance(root, "gw-b", "127.0.0.12", "vgaudit-none-*", pg, certs)
            with a, b:
                # On B: an admin command, then a failed login over VNC.
                b.ok("user", "add", "carol", "--password-stdin", input="carol-secret-1\n")
                wrong = os.path.join(root, "wrong.pw")
                with open(wrong, "w") as f:
                    f.write("not-carols-password\n")
                p = subprocess.run([SHOT, "--vnc", "127.0.0.12:%d" % b.vnc_port, "--user",
                                    "carol", "--password-file", wrong, "--ca",
                                    os.path.join(certs, "ca.crt"), "--output",
                                    os.path.join(root, "x.png")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=60)
                if p.returncode == 0:
                    fail("carol logged in on B with a wrong password")

                # On A: both, with B's name, as B's file has them, in B's order.
                def b_records_on_a():
                    got = [r for r in audit_of(a) if r.get("instance") == "gw-b"]
                    add = [r for r in got if r.get("event") == "admin" and
                           r.get("command") == "user.add" and
                           r.get("args", {}).get("name") == "carol"]
                    failed = [r for r in got if r.get("event") == "login_failed" and
                              r.get("user") == "carol"]
                    return (got, add, failed) if add and failed else None
                got, add, failed = wait_for("B's user.add and failed login in A's audit",
                                            b_records_on_a, 10)
                if got.index(add[0]) > got.index(failed[0]):
                    fail("A's audit has B's records out of order: %r" % got)
                in_b_file = file_records(b)
                for r in got:
                    if r not in in_b_file:
                        fail("A shows a gw-b record that is not in B's file: %r" % r)
                if "password" in json.dumps(got) or "carol-secret-1" in json.dumps(got):
                    fail("a secret in the shared audit: %r" % got)
                mine = [r for r in audit_of(a) if r.get("instance") == "gw-a"]
                if not mine:
                    fail("A's audit has none of A's own records")
                # --lines bounds it.
                if len(audit_of(a, 2)) != 2:
                    fail("audit --lines 2 on A: %r" % audit_of(a, 2))

                # The database down: A answers from its own file, and says so.
                pg.run("stop")
                try:
                    rc, out, err = a.ctl("audit", "--lines", "20", json_out=True)
                    if rc != 0 or "note:" not in err or "cannot be read" not in err:
                        fail("audit on A with the database down: exit %d, stderr %r" %
                             (rc, err))
                    local = json.loads(out)
                    if not local or any(r.get("instance") != "gw-a" for r in local):
                        fail("audit on A with the database down is not A's file: %r" % local)
                    # Meanwhile on B: a command (refused: its store is down too), recorded.
                    b.ctl("user", "list")
                finally:
                    pg.run("start")

                # Back: what B recorded meanwhile reaches the store, and A shows it.
                def b_outage_record_on_a():
                    return [r for r in audit_of(a) if r.get("instance") == "gw-b" and
                            r.get("event") == "admin" and r.get("command") == "user.list"]
                wait_for("B's record made while the database was down, in A's audit",
                         b_outage_record_on_a, 15)


def sessions(d):
    """{(instance, viewer id): (session, vm, user, role)} of `session list` on @d."""
    out = {}
    for s in json.loads(d.ok("session", "list", json_out=True)):
        for v in s["viewers"]:
            out[(s["instance"], v["id"])] = (s["id"], s["vm"], v["user"], v["role"])
    return out


def expect_ended(t, within, what):
    """The RFB connection @t ends within @within seconds (of now); returns how long it took."""
    t.settimeout(10)
    start = time.monotonic()
    try:
        while t.recv(65536):
            pass  # what the server still sends, up to the end
    except (ConnectionError, ssl.SSLError):
        pass
    except socket.timeout:
        fail("%s: the viewer was still connected 10 s later" % what)
    took = time.monotonic() - start
    if took > within:
        fail("%s: the viewer ended %.2f s later, want within %.1f s" % (what, took, within))
    return took


def test_sessions_are_listed_kicked_and_revoked_across_instances():
    with cluster_root("vginst-", "127.0.0.11", "127.0.0.12") as (root, certs):
        ca = os.path.join(certs, "ca.crt")
        with PgCluster(root) as pg, Guest() as gb:
            os.makedirs(os.path.join(root, "gw-a"))
            os.makedirs(os.path.join(root, "gw-b"))
            a = instance(root, "gw-a", "127.0.0.11", None, pg, certs)
            b = instance(root, "gw-b", "127.0.0.12", gb, pg, certs)
            with a, b:
                b.wait_vm(gb.name)
                gb.wait_ready()
                password = "alice-%08x" % random.getrandbits(32)
                # The user through A (the store is shared), the assignment through B, whose
                # libvirt knows the VM.
                a.ok("user", "add", "alice", "--password-stdin", input=password + "\n")
                b.ok("assign", "alice", gb.name)

                def view():
                    t, _, _ = rfblogin.login("127.0.0.12", b.vnc_port, "alice", password, ca)
                    return t

                # A lists B's viewer (written by B's heartbeat, within a beat or so).
                t = view()
                try:
                    def listed_on_a():
                        got = {k: v for k, v in sessions(a).items() if k[0] == "gw-b"}
                        return got or None
                    got = wait_for("session list on A shows alice's viewer on gw-b",
                                   listed_on_a, 5)
                    ((inst, vid), (sid, vm, user, role)), = got.items()
                    if (vm, user, role) != (gb.name, "alice", "owner"):
                        fail("A lists B's viewer as %r" % ((sid, vm, user, role),))
                    if (None, vid) in sessions(a) or ("gw-a", vid) in sessions(a):
                        fail("A lists B's viewer as its own")
                    if ("gw-b", vid) not in sessions(b):
                        fail("B does not list its own viewer %s" % vid)
                    text = a.ok("session", "list")
                    if "gw-b" not in text or "INSTANCE" not in text:
                        fail("session list on A does not name gw-b:\n%s" % text)

                    # An unknown id of B, or an unknown instance: a clear failure, nothing sent.
                    rc, _, err = a.ctl("session", "kick", "gw-b/v999999")
                    if rc == 0 or "unknown session or viewer 'gw-b/v999999'" not in err:
                        fail("kick of an unknown viewer of B: rc %d, %r" % (rc, err))
                    rc, _, err = a.ctl("session", "kick", "gw-x/v1")
                    if rc == 0 or "unknown instance 'gw-x'" not in err:
                        fail("kick on an unknown instance: rc %d, %r" % (rc, err))

                    # Kick from A: sent to B, which ends the viewer within a second.
                    t0 = time.monotonic()
                    res = json.loads(a.ok("session", "kick", "gw-b/" + vid, "--reason",
                                          "moved to another host", json_out=True))
                    if res.get("sent") is not True or res.get("instance") != "gw-b" or \
                            res.get("kicked") != 1:
                        fail("kick from A: %r" % res)
                    # Within a second of the command, its own round trip included.
                    expect_ended(t, 1.0 - (time.monotonic() - t0), "kick from A")
                    print("  B's viewer ended %.2f s after A's kick" %
                          (time.monotonic() - t0), flush=True)
                finally:
                    t.close()
                wait_for("B's logout audited with A's reason", lambda: any(
                    r.get("event") == "logout" and r.get("reason") == "moved to another host"
                    for r in map(json.loads, open(b.audit))), 5)
                if not any(r.get("event") == "kick" and r.get("id") == "gw-b/" + vid
                           for r in map(json.loads, open(a.audit))):
                    fail("A audited no kick of gw-b/%s" % vid)
                wait_for("the kicked viewer gone from A's list",
                         lambda: not any(k[0] == "gw-b" for k in sessions(a)), 5)

                # Revocations through A reach B's viewers: unassign, then disable.
                # (B's libvirt knows its VM: the assignment is given back through B.)
                for change, undo_on, undo, reason in (
                        (("unassign", "alice", gb.name), b, ("assign", "alice", gb.name),
                         "your access to VM '%s' was removed" % gb.name),
                        (("user", "disable", "alice"), a, ("user", "enable", "alice"),
                         "your account was disabled")):
                    t = view()
                    try:
                        wait_for("A lists alice's new viewer on gw-b",
                                 lambda: any(k[0] == "gw-b" for k in sessions(a)), 5)
                        t0 = time.monotonic()
                        a.ok(*change)
                        expect_ended(t, 2.0, " ".join(change) + " through A")
                        print("  %s through A ended B's viewer in %.2f s" %
                              (" ".join(change), time.monotonic() - t0), flush=True)
                    finally:
                        t.close()
                    wait_for("B's logout audited with %r" % reason, lambda: any(
                        r.get("event") == "logout" and r.get("reason") == reason
                        for r in map(json.loads, open(b.audit))), 5)
                    undo_on.ok(*undo)

                # A user who still may reach the VM is left alone by a revocation elsewhere.
                a.ok("user", "add", "bob", "--password-stdin", input=password + "\n")
                b.ok("assign", "bob", gb.name, "--role", "observer")
                t = view()
                try:
                    wait_for("A lists alice's viewer again",
                             lambda: any(k[0] == "gw-b" for k in sessions(a)), 5)
                    a.ok("unassign", "bob", gb.name)
                    t.settimeout(2.0)
                    try:
                        while t.recv(65536):
                            pass
                        fail("alice's viewer ended when bob was unassigned")
                    except socket.timeout:
                        pass  # still connected: right
                finally:
                    t.close()

                # B stopped: its viewers are no longer listed, and a kick there fails clearly.
                t = view()
                try:
                    got = wait_for("A lists alice's viewer on gw-b",
                                   lambda: [k for k in sessions(a) if k[0] == "gw-b"], 5)
                    if b.stop() != 0:
                        fail("gw-b did not stop cleanly: %s" % b.log_tail())
                finally:
                    t.close()
                if any(k[0] == "gw-b" for k in sessions(a)):
                    fail("A lists a stopped instance's viewers")
                text = a.ok("session", "list")
                if "(not listed: the viewers of gw-b (stopped))" not in text:
                    fail("session list on A does not say gw-b's viewers are left out:\n%s" % text)
                rc, _, err = a.ctl("session", "kick", "gw-b/" + got[0][1])
                if rc == 0 or "instance 'gw-b' is stopped" not in err:
                    fail("kick on a stopped instance: rc %d, %r" % (rc, err))


if __name__ == "__main__":
    run_tests([test_instances_see_each_other_go_down_and_come_back,
               test_audit_on_any_instance_shows_all,
               test_sessions_are_listed_kicked_and_revoked_across_instances])
