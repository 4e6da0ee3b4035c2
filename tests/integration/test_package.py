"""The installed Debian package, as an operator gets it: the unit verifies,
the package made the vmgate user, its groups and directories, the man pages
render, and vmgated started with the unit's own command line as the unit's
user, with the unit's limits (no capabilities, no new privileges), says
READY=1 through $NOTIFY_SOCKET, listens on no TCP port without a
certificate, and with one serves a guest over VNC and RDP to the installed
vmgate-shot. systemd is not PID 1 on a CI machine, so setpriv plays its part.

Needs the package installed (scripts/check builds and installs it:
scripts/package, then apt-get install ./build/package/vmgate_*.deb).
"""

import grp
import http.client
import json
import os
import pwd
import random
import re
import shlex
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

from PIL import Image

from vgtest import Guest, assert_images_equal, fail, run_tests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKCERTS = os.path.join(REPO, "certs", "mkcerts")
CTL = "/usr/sbin/vmgatectl"
SHOT = "/usr/bin/vmgate-shot"


def run(*cmd, check=True, timeout=120, **kw):
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        fail("%s: exit %d: %s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout).strip()))
    return p


def package_files():
    p = run("dpkg-query", "-L", "vmgate", check=False)
    if p.returncode != 0:
        fail("the vmgate package is not installed (scripts/package, then "
             "apt-get install ./build/package/vmgate_*.deb)")
    return p.stdout.split()


def unit_path():
    units = [f for f in package_files() if f.endswith("/systemd/system/vmgated.service")]
    if len(units) != 1:
        fail("the package holds %d vmgated.service units" % len(units))
    return units[0]


def unit_settings():
    """The [Service] settings of the installed unit: name -> list of values."""
    settings, section = {}, None
    with open(unit_path()) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                k, _, v = line.partition("=")
                settings.setdefault(k, []).append(v)
    return settings


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listeners(pid):
    """Local ports of the TCP sockets process @pid listens on."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class Unit:
    """vmgated as its unit starts it: the ExecStart command line (with
    --config swapped when @config is given), as User= and Group= with their
    supplementary groups, no capabilities, no new privileges, the unit's
    umask, and $NOTIFY_SOCKET."""

    def __init__(self, root, config=None):
        self.root = root
        self.s = unit_settings()
        argv = shlex.split(self.s["ExecStart"][0])
        if config:
            i = argv.index("--config")
            argv[i + 1] = config
        self.argv = argv
        self.user = self.s["User"][0]
        self.group = self.s["Group"][0]
        self.notify_path = os.path.join(root, "notify-%08x" % random.getrandbits(32))
        self.log = os.path.join(root, "vmgated.log")
        self.proc = None

    def start(self, timeout=60):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)
        cmd = ["setpriv", "--reuid", self.user, "--regid", self.group, "--init-groups",
               "--no-new-privs", "--bounding-set", "-all", "--inh-caps", "-all"] + self.argv
        # The environment systemd gives a service with User= (FreeRDP's
        # settings need $HOME: without it no RDP peer can start).
        pw = pwd.getpwnam(self.user)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": self.notify_path,
               "HOME": pw.pw_dir, "USER": self.user, "LOGNAME": self.user,
               "SHELL": pw.pw_shell}
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                                     umask=int(self.s["UMask"][0], 8))
        self.status = self.wait_notify("READY=1", timeout)
        return self

    def wait_notify(self, want, timeout):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no %s from vmgated within %ss (got %r); log: %s" %
                     (want, timeout, seen, self.log_tail()))
            if self.proc.poll() is not None:
                fail("vmgated exited with %d before %s; log: %s" %
                     (self.proc.returncode, want, self.log_tail()))
            self.notify.settimeout(min(left, 0.5))
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            seen.append(msg)
            fields = dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)
            k, v = want.split("=", 1)
            if fields.get(k) == v:
                return fields.get("STATUS", "")

    def log_tail(self, n=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.wait_notify("STOPPING=1", 30)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("vmgated did not stop within 30 s of SIGTERM")
            if rc != 0:
                fail("vmgated exited %d after SIGTERM; log: %s" % (rc, self.log_tail()))
        self.notify.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False


def ctl(*args, **kw):
    return run(CTL, *args, **kw)


def test_package_layout_and_unit():
    path = unit_path()
    p = run("systemd-analyze", "verify", path, check=False)
    if p.returncode != 0:
        fail("systemd-analyze verify %s: exit %d: %s" % (path, p.returncode, p.stderr.strip()))
    s = unit_settings()
    want = {"Type": "notify", "User": "vmgate", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "CapabilityBoundingSet": "",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
            "SystemCallFilter": "@system-service"}
    for k, v in want.items():
        if s.get(k, [None])[-1] != v:
            fail("unit: %s=%r, want %r" % (k, s.get(k), v))
    if not s.get("ExecReload"):
        fail("unit: no ExecReload")
    user = pwd.getpwnam("vmgate")
    groups = {g.gr_name for g in grp.getgrall() if "vmgate" in g.gr_mem}
    for g in ("libvirt", "vmgate-admin"):
        if g not in groups:
            fail("the vmgate user is not in the %s group (groups: %s)" % (g, sorted(groups)))
    grp.getgrnam("vmgate-readonly")
    # What the daemon needs from libvirt, as its user: qemu:///system.
    p = run("setpriv", "--reuid", "vmgate", "--regid", "vmgate", "--init-groups",
            "virsh", "-c", "qemu:///system", "uri", check=False)
    if p.returncode != 0:
        fail("the vmgate user cannot use qemu:///system (libvirtd needs polkit's rule for the "
             "libvirt group, or auth_unix_rw = none with the socket for that group): %s" %
             p.stderr.strip())
    if user.pw_uid == 0 or user.pw_uid >= 1000:
        fail("vmgate is not a system user: uid %d" % user.pw_uid)
    st = os.stat("/var/lib/vmgate")
    if st.st_mode & 0o777 != 0o700 or st.st_uid != user.pw_uid:
        fail("/var/lib/vmgate: mode %o uid %d, want 700 vmgate" % (st.st_mode & 0o777, st.st_uid))
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "vmgate").stdout
    if "/etc/vmgate/vmgated.conf " not in conffiles:
        fail("/etc/vmgate/vmgated.conf is not a conffile: %r" % conffiles)
    pages = [f for f in package_files() if re.search(r"/man[158]/[^/]+\.gz$", f)]
    if len(pages) != 4:
        fail("the package holds %d man pages, want 4: %r" % (len(pages), pages))
    for page in pages:
        out = run("man", "-l", page, env=dict(os.environ, MANWIDTH="80")).stdout
        if "NAME" not in re.sub(".\b", "", out):
            fail("man -l %s shows no NAME section" % page)


def test_without_a_certificate_nothing_listens():
    """The installed configuration untouched: the admin socket answers, no
    TCP port is open."""
    root = tempfile.mkdtemp(prefix="vgpkg-")
    os.chmod(root, 0o755)
    with Unit(root) as u:
        if "no TLS certificate" not in u.status:
            fail("READY status %r does not say VNC, RDP and the web are off" % u.status)
        st = os.stat("/proc/%d" % u.proc.pid)
        if st.st_uid != pwd.getpwnam("vmgate").pw_uid:
            fail("vmgated runs as uid %d, not vmgate" % st.st_uid)
        ports = tcp_listeners(u.proc.pid)
        if ports:
            fail("vmgated listens on TCP ports %r without a certificate" % ports)
        ctl("user", "list")
        u.stop()


def test_vnc_and_rdp_through_the_installed_unit():
    root = tempfile.mkdtemp(prefix="vgpkg-")
    os.chmod(root, 0o755)
    certs = os.path.join(root, "certs")
    run(MKCERTS, certs)
    os.chmod(certs, 0o755)
    key = os.path.join(certs, "server.key")
    os.chown(key, 0, grp.getgrnam("vmgate").gr_gid)
    os.chmod(key, 0o640)
    vnc_port, rdp_port, web_port = free_port(), free_port(), free_port()
    config = os.path.join(root, "vmgated.conf")
    with open(config, "w") as f:
        f.write("[tls]\ncertificate = %s\nkey = %s\n\n[vnc]\nlisten = 127.0.0.1\nport = %d\n\n"
                "[rdp]\nlisten = 127.0.0.1\nport = %d\n\n[web]\nlisten = 127.0.0.1\nport = %d\n\n"
                "[daemon]\nlog_level = info\n" %
                (os.path.join(certs, "server.crt"), key, vnc_port, rdp_port, web_port))
    user = "pkg%08x" % random.getrandbits(32)
    pw = os.path.join(root, "pw")
    with open(pw, "w") as f:
        f.write("%s-secret\n" % user)
    with Guest() as g, Unit(root, config=config) as u:
        # READY=1 comes once the front ends listen.
        for port in (vnc_port, rdp_port, web_port):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        if sorted(tcp_listeners(u.proc.pid)) != sorted([vnc_port, rdp_port, web_port]):
            fail("vmgated listens on %r, want %r" % (tcp_listeners(u.proc.pid),
                                                    [vnc_port, rdp_port, web_port]))
        try:
            ctl("user", "add", user, "--nla", "--password-stdin", input="%s-secret\n" % user)
            deadline = time.monotonic() + 60
            while g.name not in ctl("vm", "list").stdout:
                if time.monotonic() > deadline:
                    fail("vmgated does not list %s" % g.name)
                time.sleep(0.1)
            ctl("assign", user, g.name)
            g.wait_ready()
            still = g.wait_still()
            for mode, port in (("--vnc", vnc_port), ("--rdp", rdp_port)):
                out = os.path.join(root, mode[2:] + ".png")
                p = run(SHOT, mode, "127.0.0.1:%d" % port, "--user", user, "--password-file", pw,
                        "--ca", os.path.join(certs, "ca.crt"), "--output", out,
                        "--wait-stable", "1000", "--timeout", "60", check=False)
                if p.returncode != 0:
                    fail("vmgate-shot %s: exit %d: %s; vmgated log: %s" %
                         (mode, p.returncode, p.stderr.strip(), u.log_tail()))
                assert_images_equal(Image.open(out).convert("RGB"), still,
                                    "%s screenshot through the installed vmgated vs libvirt" % mode)
            # The web front end, noVNC's modules from the novnc package
            # included, through the sandboxed unit.
            ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
            # One request per connection: vmgated closes each after its answer.
            for path in ("/login", "/novnc/core/rfb.js"):
                c = http.client.HTTPSConnection("127.0.0.1", web_port, context=ctx, timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    fail("GET %s through the installed unit: %d" % (path, r.status))
            c = http.client.HTTPSConnection("127.0.0.1", web_port, context=ctx, timeout=30)
            c.request("POST", "/api/login", body=urllib.parse.urlencode(
                {"user": user, "password": "%s-secret" % user}), headers={
                "Origin": "https://127.0.0.1:%d" % web_port, "X-Requested-With": "test",
                "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                fail("web login through the installed unit: %d; vmgated log: %s" %
                     (r.status, u.log_tail()))
            # The audit log, in the package's log directory, written as vmgate.
            with open("/var/log/vmgate/audit.log") as f:
                logins = [r.get("protocol") for r in map(json.loads, f)
                          if r.get("event") == "logout" and r.get("user") == user]
            if sorted(logins) != ["rdp", "vnc"]:
                fail("audit log: logouts of %s by protocol %r, want rdp and vnc" % (user, logins))
        finally:
            ctl("user", "del", user, check=False)
        u.stop()


if __name__ == "__main__":
    run_tests([test_package_layout_and_unit, test_without_a_certificate_nothing_listens,
               test_vnc_and_rdp_through_the_installed_unit])
