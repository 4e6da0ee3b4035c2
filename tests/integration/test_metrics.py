"""vmgated's metrics listener against the real libvirtd and test guest:
/metrics is accepted by a real Prometheus parser (prometheus_client, from
Debian) and by the stricter rules checked here, and its figures move as
users log in over VNC and RDP and view (viewers, logins by result, frames
and bytes, encode time, capture frames, lockouts); /healthz answers;
/readyz fails for real causes (the audit log's file system full, libvirt
not reachable) and recovers."""

import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bridge import SHOT, Daemon, free_port
from test_rdp import RdpGateway
from vgtest import REPO, Guest, fail, run_tests

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def get(port, path, timeout=10):
    """(status, content type, body) of GET @path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def check_exposition(text):
    """What the Python parser lets pass but Prometheus would not like: every
    sample after its family's TYPE, each family declared once, names
    vmgate_..., counters ending in _total, label values that parse back."""
    typed = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in typed:
                fail("family %s declared twice" % name)
            if not name.startswith("vmgate_") or not NAME.match(name):
                fail("bad family name %r" % name)
            if kind == "counter" and not name.endswith("_total"):
                fail("counter %s does not end in _total" % name)
            typed[name] = kind
            continue
        if not line or line.startswith("#"):
            fail("unexpected line %r" % line)
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        family = name
        if name not in typed:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if typed.get(family) != "histogram":
                fail("sample %r before its family's TYPE" % line)
    return typed


def scrape(port):
    """{(name, frozenset(labels)): value} of /metrics, after both checks."""
    status, ctype, text = get(port, "/metrics")
    if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
        fail("/metrics: %d %r" % (status, ctype))
    check_exposition(text)
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def families(samples):
    """The family names of @samples (a histogram's series named once)."""
    names = set()
    for name, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        names.add(base if base == "vmgate_encode_seconds" else name)
    return names


def check_dashboard(samples):
    """docs/grafana-vmgate.json's panels use exactly the metrics vmgated serves."""
    import json
    with open(os.path.join(REPO, "docs", "grafana-vmgate.json")) as f:
        dash = json.load(f)
    used = set()
    for panel in dash["panels"]:
        for t in panel["targets"]:
            for name in re.findall(r"\bvmgate_[a-z_]+", t["expr"]):
                used.add(re.sub(r"_bucket$", "", name))
    served = families(samples)
    if used - served:
        fail("the dashboard uses metrics vmgated does not serve: %s" % sorted(used - served))
    if served - used:
        fail("the dashboard shows no panel of: %s" % sorted(served - used))
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    missing = [n for n in served if "`%s`" % n not in readme]
    if missing:
        fail("README does not document: %s" % sorted(missing))


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), None)


def wait_for(port, what, cond, timeout=60):
    """Scrape until @cond(samples) holds; fail naming @what at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        s = scrape(port)
        if cond(s):
            return s
        if time.monotonic() > deadline:
            fail("metrics: %s not seen within %ss" % (what, timeout))
        time.sleep(0.2)


def grew(before, name, **labels):
    b = value(before, name, **labels) or 0
    return lambda s: (value(s, name, **labels) or 0) > b


# The gateway's [instance] name, which vmgate_build_info carries.
INSTANCE = "gw-metrics"


class MetricsGateway(RdpGateway):
    """The RDP tests' gateway (alice owns vm1, bob vm2 and observes vm1; NLA
    users, so VNC and RDP both work) with the metrics listener on."""

    def __init__(self, g1, g2):
        self.metrics_port = free_port()
        super().__init__(g1, g2, extra="[instance]\nname = %s\n[metrics]\nenabled = true\n"
                         "port = %d\n" % (INSTANCE, self.metrics_port))

    def vnc_viewer(self, login, out, *args):
        """vmgate-shot over VNC in the background; @login is "user" or "vm/user"."""
        user = login.split("/")[-1]
        return subprocess.Popen([SHOT, "--vnc", self.addr(), "--user", login, "--password-file",
                                 os.path.join(self.root, user + ".pw"), "--ca", self.ca,
                                 "--output", out] + list(args),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_viewer(p):
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def test_figures_move_as_users_log_in_and_view():
    with Guest() as g1, Guest() as g2, MetricsGateway(g1, g2) as gw:
        g1.wait_ready()
        port = gw.metrics_port
        s0 = wait_for(port, "the libvirt connection and vm1's console",
                      lambda s: value(s, "vmgate_libvirt_connected") == 1 and
                      value(s, "vmgate_capture_frames_total", vm=g1.name) is not None)
        info = [(dict(l), v) for (n, l), v in s0.items() if n == "vmgate_build_info"]
        if len(info) != 1 or info[0][1] != 1 or not info[0][0].get("version") or \
                info[0][0].get("instance") != INSTANCE:
            fail("vmgate_build_info: %r" % info)
        check_dashboard(s0)
        for proto in ("vnc", "rdp", "web"):
            if value(s0, "vmgate_viewers", protocol=proto, role="owner") != 0:
                fail("viewers of %s before any login: %r" %
                     (proto, value(s0, "vmgate_viewers", protocol=proto, role="owner")))

        # The capture path counts the guest's screen changes.
        gw.d.ok("send-keys", g1.name, "echo capture\\n")
        wait_for(port, "capture frames of %s" % g1.name,
                 grew(s0, "vmgate_capture_frames_total", vm=g1.name))

        # VNC: alice views vm1 and bob observes it.
        before = scrape(port)
        alice = gw.vnc_viewer("alice", os.path.join(gw.root, "a.png"), "--wait-stable", "600000",
                              "--timeout", "90")
        bob = gw.vnc_viewer("%s/bob" % g1.name, os.path.join(gw.root, "b.png"), "--wait-stable",
                            "600000", "--timeout", "90")
        try:
            s = wait_for(port, "a VNC owner and a VNC observer",
                         lambda s: value(s, "vmgate_viewers", protocol="vnc", role="owner") == 1
                         and value(s, "vmgate_viewers", protocol="vnc", role="observer") == 1)
            if value(s, "vmgate_sessions") != 1:
                fail("sessions: %r, want 1 (both view vm1)" % value(s, "vmgate_sessions"))
            s = wait_for(port, "VNC frames and bytes",
                         lambda s: grew(before, "vmgate_frames_sent_total", protocol="vnc",
                                        codec="rfb")(s) and
                         grew(before, "vmgate_bytes_sent_total", protocol="vnc", codec="rfb")(s))
            # Typing makes more frames reach the viewers.
            mid = s
            gw.d.ok("send-keys", g1.name, "echo more frames\\n")
            wait_for(port, "VNC frames after typing",
                     grew(mid, "vmgate_frames_sent_total", protocol="vnc", codec="rfb"))
        finally:
            stop_viewer(alice)
            stop_viewer(bob)
        s = wait_for(port, "the VNC viewers gone",
                     lambda s: value(s, "vmgate_viewers", protocol="vnc", role="owner") == 0 and
                     value(s, "vmgate_viewers", protocol="vnc", role="observer") == 0)
        ok = value(s, "vmgate_logins_total", result="ok") - value(before, "vmgate_logins_total",
                                                                   result="ok")
        if ok != 2:
            fail("logins ok went up by %r for two VNC logins" % ok)

        # RDP: alice again, over RDP.
        before = scrape(port)
        p = gw.rdp_viewer("alice", os.path.join(gw.root, "r.png"), "--wait-stable", "600000",
                          "--timeout", "90")
        try:
            wait_for(port, "an RDP owner",
                     lambda s: value(s, "vmgate_viewers", protocol="rdp", role="owner") == 1)
            s = wait_for(port, "RDP frames, bytes and encode time",
                         lambda s: sum(value(s, "vmgate_frames_sent_total", protocol="rdp",
                                             codec=c) for c in ("planar", "uncompressed")) >
                         sum(value(before, "vmgate_frames_sent_total", protocol="rdp", codec=c)
                             for c in ("planar", "uncompressed")) and
                         grew(before, "vmgate_bytes_sent_total", protocol="rdp",
                              codec="planar")(s) and
                         grew(before, "vmgate_encode_seconds_count", codec="planar")(s))
            # Histogram buckets are cumulative and end with the count.
            buckets = sorted((float(dict(l)["le"]), v) for (n, l), v in s.items()
                             if n == "vmgate_encode_seconds_bucket" and
                             dict(l)["codec"] == "planar")
            if len(buckets) < 2 or buckets[-1][0] != float("inf"):
                fail("encode buckets: %r" % buckets)
            for (le0, v0), (le1, v1) in zip(buckets, buckets[1:]):
                if v1 < v0:
                    fail("encode bucket le=%s holds %r, less than le=%s's %r" % (le1, v1, le0, v0))
            if buckets[-1][1] != value(s, "vmgate_encode_seconds_count", codec="planar"):
                fail("+Inf bucket %r != count" % buckets[-1][1])
        finally:
            stop_viewer(p)
        s = wait_for(port, "the RDP viewer gone",
                     lambda s: value(s, "vmgate_viewers", protocol="rdp", role="owner") == 0)
        if value(s, "vmgate_logins_total", result="ok") != value(
                before, "vmgate_logins_total", result="ok") + 1:
            fail("logins ok did not go up by one for the RDP login")

        # A wrong password: counted as bad credentials, nothing else.
        before = scrape(port)
        bad = os.path.join(gw.root, "bad.pw")
        with open(bad, "w") as f:
            f.write("not-the-password\n")
        rc, err = gw.shot("carol", os.path.join(gw.root, "x.png"), "--timeout", "30",
                          password_file=bad)
        if rc != 3:
            fail("wrong password: exit %d (%s), want 3" % (rc, err))
        s = scrape(port)
        for result in ("ok", "bad_credentials", "throttled"):
            d = value(s, "vmgate_logins_total", result=result) - value(
                before, "vmgate_logins_total", result=result)
            want = 1 if result == "bad_credentials" else 0
            if d != want:
                fail("a wrong password moved logins{result=%s} by %r, want %d" % (result, d, want))

        # Five failures lock carol out: a lockout, a throttled user, and her
        # next login (right password) counted as throttled.
        for _ in range(4):
            rc, _ = gw.shot("carol", os.path.join(gw.root, "x.png"), "--timeout", "30",
                            password_file=bad)
        s = scrape(port)
        if value(s, "vmgate_lockouts_total", kind="user") < 1 or \
                value(s, "vmgate_throttled", kind="user") < 1:
            fail("five failures: lockouts %r, throttled users %r" %
                 (value(s, "vmgate_lockouts_total", kind="user"),
                  value(s, "vmgate_throttled", kind="user")))
        rc, _ = gw.shot("carol", os.path.join(gw.root, "x.png"), "--timeout", "30")
        after = scrape(port)
        if rc != 3 or value(after, "vmgate_logins_total", result="throttled") != \
                value(s, "vmgate_logins_total", result="throttled") + 1:
            fail("a locked-out login: exit %d, throttled %r -> %r" %
                 (rc, value(s, "vmgate_logins_total", result="throttled"),
                  value(after, "vmgate_logins_total", result="throttled")))


def metrics_daemon(root, uri=None, audit=None):
    port = free_port()
    d = Daemon(root)
    if audit:
        d.audit = audit
    d.write_config("[metrics]\nenabled = true\nport = %d\n" % port)
    if uri:
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(re.sub(r"(?m)^uri = .*$", "uri = %s" % uri, text))
    return d, port


def wait_ready(port, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = get(port, "/readyz")
        if status == want:
            return body
        if time.monotonic() > deadline:
            fail("/readyz: %d %r, want %d" % (status, body, want))
        time.sleep(0.2)


def test_readyz_follows_the_audit_log_file_system():
    root = tempfile.mkdtemp(prefix="vgmet-")
    fs = os.path.join(root, "auditfs")
    os.mkdir(fs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", fs], check=True)
    try:
        d, port = metrics_daemon(root, audit=os.path.join(fs, "audit.log"))
        with d:
            status, _, body = get(port, "/healthz")
            if status != 200 or body != "ok\n":
                fail("/healthz: %d %r" % (status, body))
            body = wait_ready(port, 200)
            if body != "ready\nlibvirt: ok\nstore: ok\naudit: ok\n":
                fail("/readyz when ready: %r" % body)
            before = scrape(port)
            # Fill the file system that holds the audit log.
            filler = os.path.join(fs, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            body = wait_ready(port, 503, timeout=10)
            if "audit: " not in body or "full" not in body or "libvirt: ok" not in body:
                fail("/readyz with the audit log's file system full: %r" % body)
            # Admin commands' records fill what is left of the log's last
            # page (a page at most: 4096 bytes, some 150 a record), then one
            # cannot be written: counted.
            for i in range(60):
                d.ctl("user", "add", "dave%d" % i, "--password-stdin", input="dave-secret-1\n")
                s = scrape(port)
                if value(s, "vmgate_audit_write_failures_total") > value(
                        before, "vmgate_audit_write_failures_total"):
                    break
            else:
                fail("audit write failures did not move after 60 records on a full file system")
            # Room again: still not ready until a record was written...
            os.unlink(filler)
            status, _, body = get(port, "/readyz")
            if status != 503 or "could not be written" not in body:
                fail("/readyz after a failed write, before the next record: %d %r" %
                     (status, body))
            # ... and ready once one is.
            d.ok("user", "add", "erin", "--password-stdin", input="erin-secret-1\n")
            wait_ready(port, 200, timeout=10)
    finally:
        subprocess.run(["umount", "-l", fs], check=False)


def test_readyz_and_gauge_say_when_libvirt_is_not_reachable():
    root = tempfile.mkdtemp(prefix="vgmet-")
    d, port = metrics_daemon(root, uri="qemu:///system?socket=%s/no-such.sock" % root)
    with d:
        body = wait_ready(port, 503, timeout=20)
        if "libvirt: not connected" not in body or "store: ok" not in body:
            fail("/readyz without libvirt: %r" % body)
        s = scrape(port)
        if value(s, "vmgate_libvirt_connected") != 0:
            fail("vmgate_libvirt_connected %r without libvirt" %
                 value(s, "vmgate_libvirt_connected"))
        status, _, _ = get(port, "/healthz")
        if status != 200:
            fail("/healthz without libvirt: %d" % status)


def test_metrics_are_off_by_default():
    root = tempfile.mkdtemp(prefix="vgmet-")
    d = Daemon(root)
    with d:
        out = subprocess.run(["ss", "-Hltnp"], stdout=subprocess.PIPE, text=True).stdout
        fronts = (":%d " % d.vnc_port, ":%d " % d.rdp_port)
        for line in out.splitlines():
            if "pid=%d," % d.proc.pid in line and not any(p in line for p in fronts):
                fail("vmgated listens on more than its VNC and RDP ports without [metrics] "
                     "enabled: %s" % line)


if __name__ == "__main__":
    run_tests([test_figures_move_as_users_log_in_and_view,
               test_readyz_follows_the_audit_log_file_system,
               test_readyz_and_gauge_say_when_libvirt_is_not_reachable,
               test_metrics_are_off_by_default])
