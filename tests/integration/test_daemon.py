"""vmgated and vmgatectl against the real libvirtd and test guest: every
admin command in table and JSON form, errors, screenshots and keys through
the daemon, permissions on the admin socket, restart, reload, bad config."""

import grp
import json
import os
import pwd
import random
import resource
import signal
import socket
import subprocess
import tempfile
import time

from PIL import Image

import tlsprobe
from bridge import VMGATED, Daemon
from vgtest import Guest, assert_images_equal, fail, run_tests

ADMIN_GROUP = "vmgate-admin"
MEMBER = "vgtest-admin"
OUTSIDER = "vgtest-other"
READONLY_GROUP = "vgtest-readonly"
READER = "vgtest-reader"


def tmpdir():
    d = tempfile.mkdtemp(prefix="vgd-")
    os.chmod(d, 0o755)  # so that test users can reach the socket
    return d


def expect_fail(d, want_rc, want_text, *args, **kw):
    rc, out, err = d.ctl(*args, **kw)
    if rc != want_rc or want_text.lower() not in err.lower():
        fail("vmgatectl %s: exit %d, stderr %r; want exit %d mentioning %r" %
             (" ".join(args), rc, err.strip(), want_rc, want_text))


def ensure_accounts():
    """The admin group, a member of it, a read-only group and a member of that,
    and an outsider (created once)."""
    subprocess.run(["groupadd", "-f", "-r", ADMIN_GROUP], check=True)
    subprocess.run(["groupadd", "-f", "-r", READONLY_GROUP], check=True)
    for name, groups in ((MEMBER, [ADMIN_GROUP]), (OUTSIDER, []), (READER, [READONLY_GROUP])):
        try:
            pwd.getpwnam(name)
        except KeyError:
            cmd = ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "-N", "-g", "nogroup"]
            if groups:
                cmd += ["-G", ",".join(groups)]
            subprocess.run(cmd + [name], check=True)
        # An account made by an older run may lack a group (the admin group
        # was called vmgate before).
        for g in groups:
            if name not in grp.getgrnam(g).gr_mem:
                subprocess.run(["usermod", "-a", "-G", g, name], check=True)


def as_user(d, user, *args, input=None):
    """Run vmgatectl as @user with that user's supplementary groups."""
    cmd = ["setpriv", "--reuid", user, "--regid", "nogroup", "--init-groups",
           os.path.join(os.path.dirname(VMGATED), "vmgatectl"), "--socket", d.socket] + list(args)
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_admin_commands():
    with Guest() as g, Daemon(tmpdir()) as d:
        g.wait_ready()
        # Users.
        d.ok("user", "add", "alice", "--password-stdin", input="alice-secret-1\n")
        d.ok("user", "add", "bob", "--password-stdin", "--nla", input="bob-secret-1\n")
        expect_fail(d, 1, "exists", "user", "add", "alice", "--password-stdin", input="x\n")
        expect_fail(d, 1, "invalid user name", "user", "add", "bad name!", "--password-stdin",
                    input="x\n")
        table = d.ok("user", "list")
        if "alice" not in table or "bob" not in table:
            fail("user list table: %r" % table)
        users = json.loads(d.ok("user", "list", json_out=True))
        flat = json.dumps(users)
        if "alice" not in flat or "bob" not in flat:
            fail("user list json: %r" % users)
        if "secret" in flat or "$y$" in flat:
            fail("user list leaks a secret: %r" % flat)
        d.ok("user", "passwd", "alice", "--password-stdin", input="alice-secret-2\n")
        expect_fail(d, 1, "unknown user", "user", "passwd", "nobody-here", "--password-stdin",
                    input="x\n")

        # VMs.
        d.wait_vm(g.name)
        table = d.ok("vm", "list")
        if g.name not in table or "running" not in table:
            fail("vm list table lacks the running guest: %r" % table)
        vms = json.loads(d.ok("vm", "list", json_out=True))
        mine = [v for v in (vms if isinstance(vms, list) else vms.get("vms", []))
                if v.get("name") == g.name]
        if not mine or mine[0].get("uuid") != g.dom.UUIDString() or mine[0].get("state") != "running":
            fail("vm list json: %r" % vms)

        # Assignments.
        d.ok("assign", "alice", g.name)
        d.ok("assign", "bob", g.name, "--role", "observer")
        expect_fail(d, 1, "unknown user", "assign", "nobody-here", g.name)
        expect_fail(d, 2, "role", "assign", "bob", g.name, "--role", "emperor")
        d.ok("unassign", "bob", g.name)
        expect_fail(d, 1, "", "unassign", "bob", g.name)

        # Pools.
        d.ok("pool", "create", "lab", "--idle-action", "shutdown", "--idle-minutes", "30",
             "--assign-on-first-login")
        expect_fail(d, 1, "exists", "pool", "create", "lab")
        d.ok("pool", "add", "lab", g.name)
        d.ok("entitle", "bob", "lab")
        table = d.ok("pool", "list")
        if "lab" not in table or g.name not in table:
            fail("pool list table: %r" % table)
        pools = json.dumps(json.loads(d.ok("pool", "list", json_out=True)))
        if "lab" not in pools or "shutdown" not in pools:
            fail("pool list json: %r" % pools)
        expect_fail(d, 1, "unknown pool", "entitle", "bob", "no-such-pool")
        d.ok("pool", "remove", "lab", g.name)
        d.ok("pool", "del", "lab")
        expect_fail(d, 1, "unknown pool", "pool", "del", "lab")

        # Sessions (no viewer is connected here).
        d.ok("session", "list")
        if json.loads(d.ok("session", "list", json_out=True)) not in ([], {"sessions": []}):
            fail("session list is not empty")
        expect_fail(d, 1, "", "session", "kick", "s999", "--reason", "test")

        # Screenshot through the daemon equals libvirt's.
        still = g.wait_still()
        out = os.path.join(d.root, "shot.png")
        d.ok("screenshot", g.name, "--output", out)
        assert_images_equal(Image.open(out).convert("RGB"), still, "vmgatectl screenshot")
        expect_fail(d, 1, "unknown vm", "screenshot", "no-such-vm", "--output", out)

        # Keys through the daemon reach the guest.
        token = "vg%08x" % random.getrandbits(32)
        off = g.serial_offset()
        d.ok("send-keys", g.name, "echo %s > /dev/ttyS0\\n" % token)
        g.wait_serial("^%s$" % token, timeout=30, since=off)
        off = g.serial_offset()
        d.ok("send-keys", g.name, "--combo", "ctrl-alt-del")
        g.wait_serial("^VMGATE-GUEST-READY$", timeout=90, since=off)  # it rebooted
        expect_fail(d, 2, "", "send-keys", g.name, "--combo", "ctrl-alt-nonsense")

        # The audit log names who did what and holds no secret.
        audit = open(d.audit).read()
        records = [json.loads(l) for l in audit.splitlines()]
        commands = {r.get("command") for r in records if r.get("event") == "admin"}
        for cmd in ("user.add", "assign", "pool.create", "send.text", "send.combo"):
            if cmd not in commands:
                fail("no admin record of %s in the audit log (commands seen: %r)" %
                     (cmd, sorted(c for c in commands if c)))
        for s in ("alice-secret", "bob-secret", "$y$"):
            if s in audit:
                fail("the audit log contains %r" % s)
        tail = d.ok("audit", "--lines", "5")
        if len(tail.strip().splitlines()) < 1:
            fail("audit --lines 5 printed nothing")


def test_admin_socket_permissions():
    ensure_accounts()
    # No read-only group: the default one (vmgate-readonly) exists wherever the
    # package is installed, and would make the socket 0666.
    with Daemon(tmpdir(), extra="[daemon]\nadmin_readonly_group = vgtest-no-such-group\n") as d:
        st = os.stat(d.socket)
        if st.st_mode & 0o777 != 0o660 or grp.getgrgid(st.st_gid).gr_name != ADMIN_GROUP:
            fail("socket mode %o group %s, want 660 %s" %
                 (st.st_mode & 0o777, grp.getgrgid(st.st_gid).gr_name, ADMIN_GROUP))
        rc, out, err = as_user(d, MEMBER, "user", "list")
        if rc != 0:
            fail("a member of %s was refused: %d %s" % (ADMIN_GROUP, rc, err))
        rc, out, err = as_user(d, OUTSIDER, "user", "list")
        if rc != 4 or "permission" not in err.lower():
            fail("an outsider got exit %d (%s), want 4 permission denied" % (rc, err.strip()))
        # Even when the file mode lets it connect, the daemon checks the peer.
        os.chmod(d.socket, 0o666)
        rc, out, err = as_user(d, OUTSIDER, "user", "add", "mallory", "--password-stdin",
                               input="mallory-pw\n")
        if rc != 4 or "permission" not in err.lower():
            fail("peer credential check: exit %d (%s), want 4" % (rc, err.strip()))
        if "mallory" in d.ok("user", "list"):
            fail("an outsider added a user")


def test_readonly_admin_group():
    """A member of [daemon] admin_readonly_group may list and read the audit
    log, is refused anything that changes state with a reason, and an
    outsider is still refused, though the socket is then mode 0666."""
    ensure_accounts()
    with Daemon(tmpdir(), extra="[daemon]\nadmin_readonly_group = %s\n" % READONLY_GROUP) as d:
        d.ok("user", "add", "alice", "--password-stdin", input="alice-secret-1\n")
        st = os.stat(d.socket)
        if st.st_mode & 0o777 != 0o666:
            fail("socket mode %o with a read-only group, want 666" % (st.st_mode & 0o777))
        rc, out, err = as_user(d, READER, "user", "list")
        if rc != 0 or "alice" not in out:
            fail("a read-only member could not list users: %d %s" % (rc, err.strip()))
        rc, out, err = as_user(d, READER, "audit", "--lines", "5")
        if rc != 0 or "user" not in out:
            fail("a read-only member could not read the audit log: %d %s" % (rc, err.strip()))
        rc, out, err = as_user(d, READER, "user", "add", "mallory", "--password-stdin",
                               input="mallory-pw\n")
        if rc != 4 or "needs the admin group" not in err:
            fail("a read-only member adding a user: exit %d (%s), want 4 and a reason" %
                 (rc, err.strip()))
        rc, out, err = as_user(d, READER, "user", "del", "alice")
        if rc != 4:
            fail("a read-only member deleting a user: exit %d (%s), want 4" % (rc, err.strip()))
        users = d.ok("user", "list")
        if "mallory" in users or "alice" not in users:
            fail("a read-only member changed the users: %s" % users)
        rc, out, err = as_user(d, OUTSIDER, "user", "list")
        if rc != 4 or "permission" not in err.lower():
            fail("an outsider got exit %d (%s), want 4 permission denied" % (rc, err.strip()))


def test_restart_reload_and_errors():
    root = tmpdir()
    d = Daemon(root)
    with d:
        d.ok("user", "add", "carol", "--password-stdin", input="carol-pw\n")
        d.ok("pool", "create", "keep")
        if d.stop(signal.SIGTERM) != 0:
            fail("vmgated did not exit 0 on SIGTERM; log: %s" % d.log_tail())
        d.start()
        if "carol" not in d.ok("user", "list") or "keep" not in d.ok("pool", "list"):
            fail("state did not survive a restart")
        # SIGHUP with a good file reloads; with a bad one keeps running.
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reloaded" not in d.log_tail(50):
            if time.monotonic() > deadline:
                fail("no reload on SIGHUP; log: %s" % d.log_tail())
            time.sleep(0.05)
        with open(d.config, "a") as f:
            f.write("\n[vnc]\nport = abc\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "refused" not in d.log_tail(50):
            if time.monotonic() > deadline:
                fail("bad reload not reported; log: %s" % d.log_tail())
            time.sleep(0.05)
        d.ok("user", "list")  # still serving
        # The same bad file at start: an error naming file, line and key.
        p = subprocess.run([VMGATED, "--config", d.config, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 2 or "%s:" % d.config not in p.stderr or "port" not in p.stderr:
            fail("bad config: exit %d, %r" % (p.returncode, p.stderr))
        d.stop()
    # No daemon: a clear message and exit 3.
    rc, out, err = Daemon(tmpdir()).ctl("user", "list")
    if rc != 3 or "not running" not in err:
        fail("no daemon: exit %d (%s), want 3 'not running'" % (rc, err.strip()))


def fingerprint(path):
    p = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                       stdout=subprocess.PIPE, text=True, check=True)
    return p.stdout.strip().split("=", 1)[1]


def wait_log(d, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in d.log_tail(200):
        if time.monotonic() > deadline:
            fail("%r not in the vmgated log: %s" % (text, d.log_tail()))
        time.sleep(0.05)


MKCERTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "certs", "mkcerts")


def with_certs():
    """A state root with a development CA and server certificate under
    certs/; returns (root, certs, certificate, key)."""
    root = tmpdir()
    certs = os.path.join(root, "certs")
    subprocess.run([MKCERTS, certs], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return root, certs, os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")


def test_tls_certificate_loaded_and_reloaded_on_sighup():
    root, certs, crt, key = with_certs()
    d = Daemon(root, extra="[tls]\ncertificate = %s\nkey = %s\n" % (crt, key))

    def served():
        return {"vnc": tlsprobe.served_fingerprint(tlsprobe.vnc_ready("127.0.0.1", d.vnc_port)),
                "rdp": tlsprobe.served_fingerprint(tlsprobe.rdp_ready("127.0.0.1", d.rdp_port))}

    def expect_served(fp, when):
        got = served()
        if got != {"vnc": fp, "rdp": fp}:
            fail("%s: served %r, want %s on both ports" % (when, got, fp))

    with d:
        first = fingerprint(crt)
        wait_log(d, first)
        expect_served(first, "at start")
        subprocess.run([MKCERTS, "--renew", certs], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        second = fingerprint(crt)
        if second == first:
            fail("mkcerts --renew did not issue a new certificate")
        # The files are read at start and on SIGHUP only.
        expect_served(first, "new files, no SIGHUP yet")
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, second)
        expect_served(second, "after SIGHUP")
        # A broken key on reload keeps the running certificate.
        with open(key, "w") as f:
            f.write("not a key\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "keeping the previous one")
        expect_served(second, "after a SIGHUP with a broken key")
        d.ok("user", "list")


def test_the_first_certificate_takes_effect_on_reload():
    """vmgated started before its certificate exists (a fresh package install):
    VNC, RDP and the web are off and nothing listens on their ports; once the
    files are there, a reload (SIGHUP, what systemctl reload sends) starts
    them, serving that certificate, without a restart."""
    root = tmpdir()
    certs = os.path.join(root, "certs")
    crt, key = os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")
    d = Daemon(root, extra="[tls]\ncertificate = %s\nkey = %s\n" % (crt, key))
    with d:
        wait_log(d, "need a TLS certificate")
        for port in (d.vnc_port, d.rdp_port, d.web_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except ConnectionRefusedError:
                pass
            else:
                fail("port %d accepts connections before there is a certificate" % port)
        pid = d.proc.pid
        subprocess.run([MKCERTS, certs], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "VNC, RDP and the web are on")
        fp = fingerprint(crt)
        got = {"vnc": tlsprobe.served_fingerprint(tlsprobe.vnc_ready("127.0.0.1", d.vnc_port)),
               "rdp": tlsprobe.served_fingerprint(tlsprobe.rdp_ready("127.0.0.1", d.rdp_port))}
        if got != {"vnc": fp, "rdp": fp}:
            fail("after the reload: served %r, want %s on both ports" % (got, fp))
        socket.create_connection(("127.0.0.1", d.web_port), timeout=5).close()
        if d.proc.pid != pid or d.proc.poll() is not None:
            fail("vmgated restarted or exited")
        d.ok("user", "list")


def test_every_port_speaks_the_same_tls():
    """What an sslscan would show, on the VNC port after VeNCrypt, the RDP
    port after X.224 and the web port: the same, and the policy: TLS 1.2 and
    1.3 only, TLS 1.2 suites ECDHE with AEAD only, no session tickets, no
    renegotiation."""
    root, _, crt, key = with_certs()
    with Daemon(root, extra="[tls]\ncertificate = %s\nkey = %s\n" % (crt, key)) as d:
        ports = {"vnc": tlsprobe.vnc_ready("127.0.0.1", d.vnc_port),
                 "rdp": tlsprobe.rdp_ready("127.0.0.1", d.rdp_port),
                 "web": tlsprobe.plain_ready("127.0.0.1", d.web_port)}
        scans = {name: tlsprobe.scan(ready) for name, ready in ports.items()}
        print(json.dumps(scans, indent=1))
        for other in ("rdp", "web"):
            if scans["vnc"] != scans[other]:
                fail("the ports differ: VNC %r, %s %r" % (scans["vnc"], other, scans[other]))
        s = scans["vnc"]
        if s["versions"] != {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}:
            fail("TLS versions: %r" % s["versions"])
        if not s["tls12_ciphers"] or any(not c.startswith("ECDHE-") or
                                         not ("GCM" in c or "CHACHA20" in c)
                                         for c in s["tls12_ciphers"]):
            fail("TLS 1.2 suites: %r" % s["tls12_ciphers"])
        if s["tls12_ticket"] or s["tls13_ticket"]:
            fail("session tickets: TLS 1.2 %s, TLS 1.3 %s" % (s["tls12_ticket"], s["tls13_ticket"]))
        for name, ready in ports.items():
            if not tlsprobe.renegotiation_refused(ready):
                fail("%s: a TLS 1.2 renegotiation was accepted" % name)


def test_a_file_size_limit_does_not_kill_the_daemon():
    """Under a file size limit (RLIMIT_FSIZE, as a service manager may set)
    that the audit log reaches, a write fails instead of the kernel's
    SIGXFSZ killing vmgated: the login whose record does not fit is refused
    with the audit log's reason, the daemon goes on serving, and the log
    holds whole records only."""
    root = tmpdir()
    limit = 1024 * 1024
    d = Daemon(root)
    # An audit log a little short of the limit, of whole records.
    record = json.dumps({"time": "2026-01-01T00:00:00.000Z", "event": "filler"}) + "\n"
    with open(d.audit, "w") as f:
        f.write(record * ((limit - 300) // len(record)))
    d.preexec = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    with d:
        d.ok("user", "add", "alice", "--password-stdin", input="alice-secret-1\n")
        for i in range(20):
            rc, out, err = d.ctl("user", "add", "bob%d" % i, "--password-stdin",
                                 input="bob-secret-1\n")
            if d.proc.poll() is not None:
                fail("vmgated died (status %d) once the audit log reached the file size limit"
                     % d.proc.returncode)
            if os.path.getsize(d.audit) + len(record) > limit:
                break
        for _ in range(3):  # past the limit now: the writes fail
            d.ctl("user", "add", "carol", "--password-stdin", input="carol-secret-1\n")
        if d.proc.poll() is not None:
            fail("vmgated died (status %d) at the file size limit" % d.proc.returncode)
        if "alice" not in d.ok("user", "list"):
            fail("vmgated stopped serving at the file size limit")
        if os.path.getsize(d.audit) > limit:
            fail("the audit log grew past the limit")
        for line in open(d.audit):
            json.loads(line)  # fails on a cut record


if __name__ == "__main__":
    run_tests([test_admin_commands, test_admin_socket_permissions, test_readonly_admin_group,
               test_restart_reload_and_errors, test_tls_certificate_loaded_and_reloaded_on_sighup,
               test_every_port_speaks_the_same_tls, test_the_first_certificate_takes_effect_on_reload,
               test_a_file_size_limit_does_not_kill_the_daemon])
