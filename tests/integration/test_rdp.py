"""The RDP front end with the real guest, the broker and vmgate-shot's RDP
mode (FreeRDP 3's client library): screenshots equal libvirt's, typing
reaches the guest (an observer's does not), NLA refusals are audited, the
preconnection PDU selects the VM (and a malformed one harms nothing), a
guest mode change is followed, TLS-only logins work when configured, and
ten viewers keep receiving updates while one of them stops reading."""

import json
import os
import random
import signal
import ssl
import subprocess
import time

from PIL import Image

import rdpwire
import rfblogin
from bridge import SHOT, shot
from test_vnc import VGBENCH, Gateway, check_kick_and_takeover
from vgtest import Guest, assert_images_equal, fail, run_tests


class RdpGateway(Gateway):
    """The VNC tests' gateway with NLA users (an NT hash is stored); `rdp`
    adds lines to the [rdp] section."""

    def __init__(self, g1, g2, extra="", rdp=""):
        super().__init__(g1, g2, extra, rdp=rdp, nla=True)

    def rdp_addr(self):
        return "127.0.0.1:%d" % self.d.rdp_port

    def rdp_args(self, user, out, *args, password_file=None, vm=None):
        a = ["--rdp", self.rdp_addr(), "--user", user, "--password-file",
             password_file or os.path.join(self.root, user + ".pw"), "--ca", self.ca,
             "--output", out]
        if vm:
            a += ["--vm", vm]
        return a + list(args)

    def rdp_viewer(self, user, out, *args):
        """vmgate-shot over RDP as @user in the background (a viewer that
        stays until its --wait-stable or --timeout ends it)."""
        return subprocess.Popen([SHOT] + self.rdp_args(user, out, *args),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def rdp_shot(self, user, out, *args, password_file=None, vm=None, timeout=120):
        return shot(*self.rdp_args(user, out, *args, password_file=password_file, vm=vm),
                    timeout=timeout)

    def audit(self):
        with open(self.d.audit) as f:
            return [json.loads(l) for l in f]

    def log_has(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.d.log) as f:
                if text in f.read():
                    return True
            time.sleep(0.1)
        return False


def test_screenshot_is_pixel_exact():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        gw.d.ok("send-keys", g2.name, "echo this is vm2 over RDP\\n")
        for user, g in (("alice", g1), ("bob", g2)):
            still = g.wait_still()
            out = os.path.join(gw.root, user + "-rdp.png")
            rc, err = gw.rdp_shot(user, out, "--wait-stable", "1000", "--timeout", "60")
            if rc != 0:
                fail("%s: vmgate-shot --rdp exit %d: %s" % (user, rc, err))
            assert_images_equal(Image.open(out).convert("RGB"), still,
                                "%s's RDP screenshot vs libvirt" % user)
        logins = [r for r in gw.audit() if r.get("event") == "login_ok"]
        if {r["user"] for r in logins} != {"alice", "bob"}:
            fail("login_ok records: %r" % logins)


def test_typing_reaches_the_guest_but_not_from_an_observer():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        off = g1.serial_offset()
        bob_token = "ob%08x" % random.getrandbits(32)
        # Shifted characters and Enter: the guest's shell must see them exactly.
        alice_token = "Ow%08x+Q_%%" % random.getrandbits(32)
        rc, err = gw.rdp_shot("bob", os.path.join(gw.root, "bob.png"), "--type",
                              "echo %s > /dev/ttyS0\\n" % bob_token, "--timeout", "60",
                              vm=g1.name)
        if rc != 0:
            fail("observer: exit %d: %s" % (rc, err))
        rc, err = gw.rdp_shot("alice", os.path.join(gw.root, "alice.png"), "--type",
                              "echo '%s' > /dev/ttyS0\\n" % alice_token, "--timeout", "60")
        if rc != 0:
            fail("owner: exit %d: %s" % (rc, err))
        g1.wait_serial("^%s$" % alice_token.replace("+", r"\+").replace("%", "%"), timeout=30,
                       since=off)
        lines, _ = g1.serial_lines(off)
        if any(bob_token in l for l in lines):
            fail("the observer's typing reached the guest")


def test_nla_refusals_are_audited():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        bad = os.path.join(gw.root, "bad.pw")
        with open(bad, "w") as f:
            f.write("wrong-password\n")
        out = os.path.join(gw.root, "x.png")
        for user in ("alice", "mallory"):
            rc, err = gw.rdp_shot(user, out, "--timeout", "30", password_file=bad)
            if rc != 3:
                fail("%s with a wrong password: exit %d (%s); want 3" % (user, rc, err.strip()))
        # carol has a password but no VM: authenticated, then refused.
        rc, err = gw.rdp_shot("carol", out, "--timeout", "30")
        if rc == 0:
            fail("carol without a VM got a screen")
        if not gw.log_has("user=carol: refused: No VM is assigned to you"):
            fail("no logged reason for carol's refusal")
        records = [r for r in gw.audit() if r.get("event") == "login_failed"]
        reasons = {(r.get("user"), r.get("reason")) for r in records}
        for want in (("alice", "bad-credentials"), ("mallory", "bad-credentials"),
                     ("carol", "no-vm")):
            if want not in reasons:
                fail("no audit record %r in %r" % (want, reasons))
        if any(not r.get("address", "").startswith("127.0.0.1:") for r in records):
            fail("failed logins lack the source address: %r" % records)
        if any("wrong-password" in json.dumps(r) for r in gw.audit()):
            fail("a password reached the audit log")


def test_preconnection_pdu_selects_the_vm():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        gw.d.ok("send-keys", g2.name, "echo second vm\\n")
        uuid1 = json.loads(gw.d.ok("vm", "list", json_out=True))
        uuid1 = [v for v in uuid1 if v["name"] == g1.name][0]["uuid"]
        # bob's own VM is g2; by UUID he reaches g1 (as its observer), by
        # name g2.
        for ident, g in ((uuid1, g1), (g2.name, g2)):
            still = g.wait_still()
            out = os.path.join(gw.root, "pcb-%s.png" % g.name)
            rc, err = gw.rdp_shot("bob", out, "--wait-stable", "1000", "--timeout", "60",
                                  vm=ident)
            if rc != 0:
                fail("bob /pcb:%s: exit %d: %s" % (ident, rc, err))
            assert_images_equal(Image.open(out).convert("RGB"), still,
                                "bob's screenshot of %s (named %s)" % (g.name, ident))
        # alice may not reach g2.
        rc, err = gw.rdp_shot("alice", os.path.join(gw.root, "no.png"), "--timeout", "30",
                              vm=g2.name)
        if rc == 0:
            fail("alice reached a VM she is not entitled to")
        if not gw.log_has("user=alice requested=%s: refused" % g2.name):
            fail("no logged reason for alice's refusal")
        # Malformed preconnection PDUs: each connection is dropped at once,
        # the gateway carries on.
        # (A blob without its NUL is taken as it is: not in this list.)
        for name, data in sorted(rdpwire.MALFORMED_PCBS.items()):
            if name == "v2-no-nul":
                continue
            res = rdpwire.raw_pcb("127.0.0.1", gw.d.rdp_port, data, wait=15)
            if not res.closed:
                fail("malformed preconnection PDU %s was not refused: %s" % (name, res))
        if not gw.log_has("refused: malformed preconnection PDU"):
            fail("no logged reason for the malformed preconnection PDU")
        rc, err = gw.rdp_shot("alice", os.path.join(gw.root, "after.png"), "--timeout", "60")
        if rc != 0:
            fail("the gateway failed after malformed PDUs: exit %d: %s" % (rc, err))


def test_insecure_clients_are_refused():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        port = gw.d.rdp_port
        # Standard RDP security only: a negotiation failure naming what the
        # server requires (HYBRID: NLA is on).
        for res in (rdpwire.standard_security("127.0.0.1", port),):
            if res == rdpwire.CLOSED or res.kind != "failure" or \
                    res.failure_code != rdpwire.HYBRID_REQUIRED_BY_SERVER:
                fail("standard RDP security: %s" % (res,))
        # A client that completes the X.224 negotiation, then offers only
        # TLS 1.1 (and, separately, 1.0).
        for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            res = rdpwire.tls_after_x224("127.0.0.1", port, version)
            if res[0] != "refused":
                fail("a %s handshake succeeded: %r" % (version.name, res))
        res = rdpwire.tls_after_x224("127.0.0.1", port, ssl.TLSVersion.TLSv1_2)
        if res[0] != "handshake-ok":
            fail("TLS 1.2 was refused: %r" % (res,))


def test_tls_only_logins_when_configured():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2, rdp="nla = false\n") as gw:
        g1.wait_ready()
        # A user without an NT hash: only possible without NLA.
        gw.d.ok("user", "add", "dave", "--password-stdin", input="dave-pw-1\n")
        with open(os.path.join(gw.root, "dave.pw"), "w") as f:
            f.write("dave-pw-1\n")
        gw.d.ok("assign", "dave", g1.name)
        still = g1.wait_still()
        out = os.path.join(gw.root, "dave.png")
        rc, err = gw.rdp_shot("dave", out, "--wait-stable", "1000", "--timeout", "60")
        if rc != 0:
            fail("TLS-only login: exit %d: %s" % (rc, err))
        assert_images_equal(Image.open(out).convert("RGB"), still, "TLS-only screenshot")
        bad = os.path.join(gw.root, "bad.pw")
        with open(bad, "w") as f:
            f.write("nope\n")
        rc, err = gw.rdp_shot("dave", out, "--timeout", "30", password_file=bad)
        if rc == 0:
            fail("a wrong password was accepted without NLA")
        if not any(r.get("event") == "login_failed" and r.get("user") == "dave"
                   for r in gw.audit()):
            fail("the wrong TLS-only password was not audited")


def test_guest_mode_change_is_followed():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g1.wait_still()
        out = os.path.join(gw.root, "mode.png")
        # The shot connects at 1024x768 and waits for a still screen; the
        # switch happens while it is connected.
        p = gw.rdp_viewer("alice", out, "--wait-stable", "4000", "--timeout", "120")
        try:
            if not gw.log_has("viewer v", timeout=60):
                fail("the viewer did not attach")
            gw.d.ok("send-keys", g1.name, "vgwork mode 1920x1080 &\\n")
            g1.wait_serial(r"^VMGATE-MODE 1920x1080$", timeout=60)
            rc = p.wait(timeout=150)
        finally:
            if p.poll() is None:
                p.kill()
        if rc != 0:
            fail("vmgate-shot exit %d: %s" % (rc, p.stderr.read()))
        img = Image.open(out).convert("RGB")
        if img.size != (1920, 1080):
            fail("the client stayed at %dx%d" % img.size)
        assert_images_equal(img, g1.wait_still(), "screenshot after the mode change")


def alice_viewers(gw):
    text = json.dumps(json.loads(gw.d.ok("session", "list", json_out=True)))
    return text.count('"alice"')


def test_ten_viewers_keep_receiving_while_one_stops_reading():
    # Ten logins at once from one address: more than an address's default share.
    with Guest() as g1, Guest() as g2, RdpGateway(
            g1, g2, "[policy]\nsecond_login = join\n[limits]\nlogins_per_address = 16\n") as gw:
        g1.wait_ready()
        g1.wait_still()
        shots = [os.path.join(gw.root, "v%02d.png" % i) for i in range(10)]
        # Each viewer writes its screenshot once the screen has been still
        # for 15 s: after all the updates below.
        procs = [gw.rdp_viewer("alice", out, "--wait-stable", "15000", "--timeout", "180")
                 for out in shots]
        stalled = procs[0]
        try:
            deadline = time.monotonic() + 90
            while alice_viewers(gw) < 10:
                dead = [p for p in procs if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    fail("10 viewers did not connect (%d did): %s" %
                         (alice_viewers(gw), dead[0].stderr.read() if dead else ""))
                time.sleep(0.2)
            # One viewer stops reading (its process is frozen), then a burst
            # of full-screen noise fills its socket and its frame window.
            os.kill(stalled.pid, signal.SIGSTOP)
            off = g1.serial_offset()
            gw.d.ok("send-keys", g1.name, "vgwork noise --fps 20 --frames 60 --exit\n")
            g1.wait_serial(r"^VMGATE-WORK-DONE noise", timeout=90, since=off)
            token = "ten%08x" % random.getrandbits(32)
            gw.d.ok("send-keys", g1.name, "echo %s\n" % token)
            results = [(p.wait(timeout=150), p.stderr.read()) for p in procs[1:]]
            want = g1.wait_still()
            bad = [(i, rc, err) for i, (rc, err) in enumerate(results, 1) if rc != 0]
            if bad:
                fail("viewers failed: %r" % bad[:3])
            for out in shots[1:]:
                assert_images_equal(Image.open(out).convert("RGB"), want, "viewer %s" % out)
            if os.path.exists(shots[0]):
                fail("the frozen viewer wrote a screenshot")
            # The gateway lets go of the frozen viewer when it dies.
            stalled.kill()
            deadline = time.monotonic() + 30
            while alice_viewers(gw) > 0:
                if time.monotonic() > deadline:
                    fail("the frozen viewer's session stayed after it died")
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()


def test_a_viewer_that_reads_nothing_is_ended():
    """A frozen viewer (SIGSTOP) with frames waiting for it is ended once it
    has read nothing for [limits] stalled_viewer_timeout, with that reason
    audited; another viewer of the VM keeps its session."""
    with Guest() as g1, Guest() as g2, RdpGateway(
            g1, g2, "[policy]\nsecond_login = join\n[limits]\nstalled_viewer_timeout = 3\n") \
            as gw:
        g1.wait_ready()
        outs = [os.path.join(gw.root, "s%d.png" % i) for i in range(2)]
        procs = [gw.rdp_viewer("alice", out, "--wait-stable", "600000", "--timeout", "120")
                 for out in outs]
        frozen, other = procs
        try:
            deadline = time.monotonic() + 60
            while alice_viewers(gw) < 2:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    fail("two viewers did not connect")
                time.sleep(0.2)
            os.kill(frozen.pid, signal.SIGSTOP)
            gw.d.ok("send-keys", g1.name, "vgwork noise --fps 20 --frames 400 --exit\n")
            deadline = time.monotonic() + 60
            while alice_viewers(gw) > 1:
                if time.monotonic() > deadline:
                    fail("the frozen viewer was not ended within 60 s")
                time.sleep(0.2)
            if other.poll() is not None:
                fail("the viewer that kept reading was ended too: %s" % other.stderr.read())
            ends = [r for r in gw.audit() if r.get("event") == "logout"]
            if not any("read nothing for 3 s" in r.get("reason", "") for r in ends):
                fail("no logout audited with the stall as its reason: %r" % ends)
        finally:
            for p in procs:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                p.wait()


def send_queue_bytes(pid, port):
    """The largest send queue (bytes) of process @pid's established TCP
    sockets on local port @port, from /proc (IPv4 and IPv6)."""
    most = 0
    for name in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, name)) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                    most = max(most, int(queues.split(":")[0], 16))
    return most


def test_a_client_that_suspends_frame_acks_gets_a_bounded_queue():
    """A client may tell the server to stop waiting for frame
    acknowledgements (queueDepth SUSPEND). While it reads nothing (stopped,
    64 KiB receive buffer) with scrolling text on the screen, what vmgated
    queues for it stays bounded (without a bound it reaches the kernel's
    send buffer limit, 4 MiB here), and once it reads again its frames
    resume."""
    window, stopped = 16, 8
    with Guest(run="scroll,--fps,30,--stamp") as g1, Guest() as g2, RdpGateway(
            g1, g2, "[policy]\nsecond_login = join\n") as gw:
        g1.wait_serial(r"^VMGATE-WORK-STARTED scroll$", timeout=120)
        port = gw.d.rdp_port
        src = "x=rdp,127.0.0.1,%d,alice,%s,%s,lossless-noack" % (
            port, os.path.join(gw.root, "alice.pw"), gw.ca)
        v = subprocess.Popen([VGBENCH, "watch", "--seconds", str(window), "--rcvbuf", "65536",
                              src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in v.stderr:
                if "watching" in line:
                    break
            else:
                fail("vgbench ended before its window: exit %s" % v.wait())
            started = time.monotonic()
            if not gw.log_has("the client suspended frame acknowledgements"):
                fail("the client's suspension of frame acknowledgements never reached vmgated")
            time.sleep(max(0.0, started + 2 - time.monotonic()))  # it reads for 2 s
            os.kill(v.pid, signal.SIGSTOP)
            most = 0
            while time.monotonic() < started + 2 + stopped:
                most = max(most, send_queue_bytes(gw.d.proc.pid, port))
                time.sleep(0.1)
            os.kill(v.pid, signal.SIGCONT)
            out, err = v.communicate(timeout=window + 60)
            print("largest send queue while the client was stopped: %d bytes" % most)
            if v.returncode != 0:
                fail("vgbench: exit %d: %s" % (v.returncode, err))
            if most > 2 * 1024 * 1024:
                fail("vmgated queued %d bytes for a client that acknowledges nothing" % most)
            frames = json.loads(out)["sources"][0]["frames"]
            late = [t for _, t in frames if t >= (2 + stopped + 1) * 1e6]
            if not late:
                fail("no frame reached the client after it read again (%d frames in all)" %
                     len(frames))
        finally:
            if v.poll() is None:
                os.kill(v.pid, signal.SIGCONT)
                v.kill()
                v.wait()


def test_a_screen_mode_larger_than_served_ends_its_viewers():
    """The guest switches to a mode above [limits] max_screen_*: its VNC and
    RDP viewers are ended with that reason, audited; the daemon lives on and
    still serves the other VM."""
    with Guest() as g1, Guest() as g2, RdpGateway(
            g1, g2, "[policy]\nsecond_login = join\n"
            "[limits]\nmax_screen_width = 1280\nmax_screen_height = 1024\n") as gw:
        g1.wait_ready()
        g2.wait_ready()
        outs = [os.path.join(gw.root, "m%d.png" % i) for i in range(2)]
        vnc = subprocess.Popen([SHOT, "--vnc", gw.addr(), "--user", "alice", "--password-file",
                                os.path.join(gw.root, "alice.pw"), "--ca", gw.ca,
                                "--output", outs[0], "--wait-stable", "600000",
                                "--timeout", "120"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        rdp = gw.rdp_viewer("alice", outs[1], "--wait-stable", "600000", "--timeout", "120")
        try:
            deadline = time.monotonic() + 60
            while alice_viewers(gw) < 2:
                if time.monotonic() > deadline or vnc.poll() is not None or \
                        rdp.poll() is not None:
                    fail("the two viewers did not connect")
                time.sleep(0.2)
            gw.d.ok("send-keys", g1.name, "vgwork mode 1920x1080 &\n")
            g1.wait_serial(r"^VMGATE-MODE 1920x1080$", timeout=60)
            for name, p in (("VNC", vnc), ("RDP", rdp)):
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    fail("the %s viewer was not ended after the mode switch" % name)
            want = "the VM's screen mode 1920x1080 is larger than this gateway serves " \
                   "(1280x1024 at most)"
            ends = [r for r in gw.audit() if r.get("event") == "logout"]
            for proto in ("vnc", "rdp"):
                if not any(r.get("protocol") == proto and r.get("reason") == want
                           for r in ends):
                    fail("no %s logout audited with the mode as its reason: %r" % (proto, ends))
            if gw.d.proc.poll() is not None:
                fail("vmgated exited")
            out = os.path.join(gw.root, "bob.png")
            gw.rdp_shot("bob", out, vm=g2.name)
            if Image.open(out).size != (1024, 768):
                fail("bob's VM after the other VM's refusal: %dx%d" % Image.open(out).size)
        finally:
            for p in (vnc, rdp):
                if p.poll() is None:
                    p.kill()
                p.wait()


def test_kicked_and_taken_over_viewers_get_a_clear_end():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g1.wait_still()

        def viewer(user, out):
            return gw.rdp_viewer(user, os.path.join(gw.root, out), "--wait-stable", "100000",
                                 "--timeout", "110")

        check_kick_and_takeover(gw, viewer)


def test_vm_names_as_libvirt_allows_them():
    """VMs named with spaces, parentheses and Unicode: assigned and pooled
    with vmgatectl (by name and by UUID), reached by a VNC "VM/user" login,
    through a pool, and by RDP's preconnection PDU; the screens are exact
    and the audit log names the VMs as libvirt does."""
    tag = "%d" % os.getpid()
    with Guest(name="Windows 11 (dev) " + tag) as g1, \
            Guest(name="\u00fcn\u00efcode-" + tag) as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo first vm\\n")
        gw.d.ok("send-keys", g2.name, "echo second vm\\n")
        listed = {v["name"]: v["uuid"] for v in json.loads(gw.d.ok("vm", "list", json_out=True))}
        for g in (g1, g2):
            if g.name not in listed:
                fail("vmgatectl vm list does not show %r: %r" % (g.name, sorted(listed)))
        # carol is given g1 by its UUID; the store keeps its name.
        gw.d.ok("assign", "carol", listed[g1.name].upper(), "--role", "observer")
        carol = [u for u in json.loads(gw.d.ok("user", "list", json_out=True))
                 if u["name"] == "carol"][0]
        if g1.name not in json.dumps(carol, ensure_ascii=False):
            fail("carol's assignment by UUID is not kept under the VM's name: %r" % carol)
        # A pool of the Unicode-named VM.
        gw.d.ok("pool", "create", "lab")
        gw.d.ok("pool", "add", "lab", g2.name)
        gw.d.ok("entitle", "carol", "lab")

        # VNC: alice names her VM in the login; carol's own VM login lands on g1.
        for login, g in (("%s/alice" % g1.name, g1), ("%s/carol" % g2.name, g2)):
            still = g.wait_still()
            out = os.path.join(gw.root, "vnc-%d.png" % len(login))
            rc, err = shot("--vnc", gw.addr(), "--user", login, "--password-file",
                           os.path.join(gw.root, login.split("/")[1] + ".pw"), "--ca", gw.ca,
                           "--output", out, "--wait-stable", "1000", "--timeout", "60")
            if rc != 0:
                fail("VNC login %r: exit %d: %s" % (login, rc, err))
            assert_images_equal(Image.open(out).convert("RGB"), still, "VNC %r" % login)
        # RDP: the preconnection PDU names the VM.
        still = g1.wait_still()
        out = os.path.join(gw.root, "rdp.png")
        rc, err = gw.rdp_shot("alice", out, "--wait-stable", "1000", "--timeout", "60",
                              vm=g1.name)
        if rc != 0:
            fail("RDP /pcb:%r: exit %d: %s" % (g1.name, rc, err))
        assert_images_equal(Image.open(out).convert("RGB"), still, "RDP %r" % g1.name)
        vms = {(r.get("user"), r.get("vm")) for r in gw.audit() if r.get("event") == "login_ok"}
        for pair in (("alice", g1.name), ("carol", g2.name)):
            if pair not in vms:
                fail("no login_ok audited for %r: %r" % (pair, vms))
        # A name libvirt refuses is refused with the rule.
        rc, _, err = gw.d.ctl("assign", "alice", "a/b")
        if rc == 0 or "invalid VM name" not in err:
            fail("assign to 'a/b': exit %d: %s" % (rc, err))


def test_viewers_ended_by_the_gateway_stopping_are_audited():
    """SIGTERM with a VNC viewer and an RDP viewer connected: vmgated stops
    cleanly and audits each one's logout with the reason, as for every
    other end."""
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        t, _, _ = rfblogin.login("127.0.0.1", gw.d.vnc_port, "alice", gw.pw["alice"], gw.ca)
        rdp = gw.rdp_viewer("bob", os.path.join(gw.root, "never.png"), "--wait-stable", "600000",
                            "--timeout", "600")
        try:
            deadline = time.monotonic() + 60
            while True:
                listed = gw.d.ok("session", "list", json_out=True)
                if '"alice"' in listed and '"bob"' in listed:
                    break
                if time.monotonic() > deadline:
                    fail("the two viewers were not both listed: %s" % listed)
                time.sleep(0.1)
            rc = gw.d.stop()
            if rc != 0:
                fail("vmgated exit status %r after SIGTERM" % rc)
            ends = {r.get("protocol"): r.get("reason") for r in gw.audit()
                    if r.get("event") == "logout"}
            for proto in ("vnc", "rdp"):
                if ends.get(proto) != "the gateway is stopping":
                    fail("%s: logout audited as %r, want 'the gateway is stopping' (all: %r)" %
                         (proto, ends.get(proto), ends))
        finally:
            t.close()
            rdp.kill()
            rdp.wait()


if __name__ == "__main__":
    run_tests([test_screenshot_is_pixel_exact, test_typing_reaches_the_guest_but_not_from_an_observer,
               test_nla_refusals_are_audited, test_preconnection_pdu_selects_the_vm,
               test_insecure_clients_are_refused, test_tls_only_logins_when_configured,
               test_guest_mode_change_is_followed,
               test_ten_viewers_keep_receiving_while_one_stops_reading,
               test_a_viewer_that_reads_nothing_is_ended,
               test_a_client_that_suspends_frame_acks_gets_a_bounded_queue,
               test_a_screen_mode_larger_than_served_ends_its_viewers,
               test_kicked_and_taken_over_viewers_get_a_clear_end,
               test_viewers_ended_by_the_gateway_stopping_are_audited,
               test_vm_names_as_libvirt_allows_them])
