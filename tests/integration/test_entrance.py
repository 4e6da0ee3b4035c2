"""Any instance is an entrance: two vmgated instances, A on 127.0.0.11 and
B on 127.0.0.12, share a PostgreSQL store (a private cluster) and serve RDP
on the same port, each with one test guest (screens told apart). A user
assigned B's VM logs in on A:
- xfreerdp3: A authenticates her with NLA and sends a Server Redirection
  PDU; xfreerdp3 follows it to B with the single-use grant it carried and
  shows B's VM, pixel for pixel what libvirt's screenshot shows, without
  asking for a password again; the grant replayed to B is refused;
- vmgate-shot --vnc and Chromium's console page: A logs in on B's VNC port
  with a grant and forwards them; both show B's VM;
- without [instance] ca, A tells a VNC user where the VM is instead;
- B SIGKILLed: within 5 s a login on A for its VM gets a clear reason;
  B restarted: A sends the user there again."""

import contextlib
import json
import os
import random
import re
import subprocess
import threading
import time
import types

from PIL import Image

from bridge import SHOT, free_port
from test_instances import PgCluster, cluster_root, expect_ended, instance, vms, wait_for
from vgtest import Guest, diff_images, fail, images_equal, run_tests
import rfblogin
from browser import Browser
from xclient import Xvfb, XFreeRDP


def audit(d):
    with open(d.audit) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def two_instances():
    """A (127.0.0.11) and B (127.0.0.12) on a private cluster, one guest each,
    RDP on one port (a redirected FreeRDP client keeps its port), each with
    [instance] ca. Yields a namespace: root, ca, pg, ga, gb, a, b."""
    # One certificate for both, naming both addresses (each instance checks
    # the other's against the CA when it forwards VNC).
    with cluster_root("vgentr-", "127.0.0.11", "127.0.0.12") as (root, certs):
        ca = os.path.join(certs, "ca.crt")
        with PgCluster(root) as pg, Guest() as ga, Guest() as gb:
            os.makedirs(os.path.join(root, "gw-a"))
            os.makedirs(os.path.join(root, "gw-b"))
            a = instance(root, "gw-a", "127.0.0.11", ga, pg, certs)
            b = instance(root, "gw-b", "127.0.0.12", gb, pg, certs)
            a.rdp_port = b.rdp_port = free_port()
            for d in (a, b):
                d.write_config(d.extra.replace("[instance]\n", "[instance]\nca = %s\n" % ca))
            with a, b:
                a.wait_vm(ga.name)
                b.wait_vm(gb.name)
                wait_for("vm list on A shows %s running on gw-b" % gb.name,
                         lambda: (vms(a).get(gb.name) or {}).get("instance") == "gw-b" and
                         vms(a)[gb.name]["state"] == "running", 10)
                yield types.SimpleNamespace(root=root, ca=ca, pg=pg, ga=ga, gb=gb, a=a, b=b)


def test_logins_on_a_reach_the_vm_b_holds():
    with two_instances() as t:
        root, ca, ga, gb, a, b = t.root, t.ca, t.ga, t.gb, t.a, t.b
        pw = "alice-%08x" % random.getrandbits(32)
        a.ok("user", "add", "alice", "--nla", "--password-stdin", input=pw + "\n")
        a.ok("assign", "alice", gb.name, "--role", "owner")
        # Screens that tell the two VMs apart.
        ga.wait_ready()
        gb.wait_ready()
        a.ok("send-keys", ga.name, "echo this is A\\n")
        b.ok("send-keys", gb.name, "echo this is the VM on gw-b\\n")
        ga.wait_still()
        want = gb.wait_still()
        if images_equal(ga.screenshot(), want):
            fail("the two test VMs show the same screen")

        with Xvfb(1280, 1024) as x, \
                XFreeRDP(x, "127.0.0.11", a.rdp_port, "alice", pw, version=3,
                         sec="nla", gfx=True, size=(1024, 768),
                         ca=ca, cert_name="localhost",
                         extra=["/log-filters:com.freerdp.core.redirection:DEBUG"],
                         workdir=root) as c:
            deadline = time.monotonic() + 90
            c.wait_window(1024, 768, deadline)
            img = c.wait_screenshot(lambda im: images_equal(im, want), deadline)
            if not images_equal(img, want):
                fail("xfreerdp3 redirected to B: the window differs from %s: %s" %
                     (gb.name, diff_images(img, want)))
            client_log = c.log_text()
        # A authenticated alice and sent her to gw-b; B let her in with the grant.
        redirects = [e for e in audit(a) if e.get("event") == "redirect"]
        if len(redirects) != 1 or redirects[0].get("vm") != gb.name or \
                redirects[0].get("to") != "gw-b" or redirects[0].get("user") != "alice":
            fail("A's audit: redirect records %r" % redirects)
        if any(e.get("event") == "login_ok" for e in audit(a)):
            fail("A logged alice in itself: %r" % audit(a))
        logins = [e for e in audit(b) if e.get("event") == "login_ok"]
        if len(logins) != 1 or logins[0].get("vm") != gb.name or \
                logins[0].get("user") != "alice":
            fail("B's audit: logins %r" % logins)
        # The grant: its id came as the NLA domain; the secret never
        # reaches a log.
        m = re.search(r"Domain: (vmgate-[0-9a-f]+)", client_log)
        if not m:
            fail("xfreerdp3's log has no redirection domain: %s" % client_log[-2000:])
        if pw in client_log:
            fail("xfreerdp3 logged the password")
        for d in (a, b):
            with open(d.log) as f:
                text = f.read()
            if pw in text:
                fail("%s's log holds the password" % d.root)

        # The same grant again, straight to B: refused as a grant that
        # is not there (not as a wrong answer to a grant still valid).
        with Xvfb(1280, 1024) as x, \
                XFreeRDP(x, "127.0.0.12", b.rdp_port, "alice",
                         "x" * 43, version=3, sec="nla", gfx=True,
                         size=(1024, 768), domain=m.group(1), workdir=root) as c:
            rc = c.wait_exit(60)
            if rc is None or rc == 0:
                fail("a replayed grant: xfreerdp3 %s" %
                     ("still runs" if rc is None else "exited 0"))
        refused = [e for e in audit(b) if e.get("event") == "login_failed"]
        if [e.get("reason") for e in refused] != ["bad-grant"] or \
                refused[0].get("method") != "grant":
            fail("B's audit after the replay: %r" % refused)
        if len([e for e in audit(b) if e.get("event") == "login_ok"]) != 1:
            fail("the replayed grant let someone in: %r" % audit(b))

        # VNC through A: A logs in on B with a grant and forwards the viewer.
        pwfile = os.path.join(root, "alice.pw")
        with open(pwfile, "w") as f:
            f.write(pw + "\n")
        png = os.path.join(root, "vnc.png")
        p = subprocess.run([SHOT, "--vnc", "127.0.0.11:%d" % a.vnc_port, "--user",
                            "alice", "--password-file", pwfile, "--ca", ca, "--output",
                            png, "--timeout", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        if p.returncode != 0:
            fail("vmgate-shot --vnc through A for B's VM: exit %d: %s" %
                 (p.returncode, p.stderr))
        got = Image.open(png).convert("RGB")
        want = gb.wait_still()
        if not images_equal(got, want):
            fail("vmgate-shot --vnc through A: not B's VM: %s" % diff_images(got, want))
        if len([e for e in audit(a) if e.get("event") == "redirect"]) != 2:
            fail("A's audit: no redirect for the VNC login: %r" % audit(a))
        vnc_logins = [e for e in audit(b) if e.get("event") == "login_ok"]
        if len(vnc_logins) != 2 or vnc_logins[1].get("vm") != gb.name:
            fail("B's audit: no VNC login through the grant: %r" % vnc_logins)
        with open(a.log) as f:
            if "forwarded to the gateway that holds the VM" not in f.read():
                fail("A's log does not say it forwarded the viewer")

        # The browser on A's web front end: B's VM in the picker, and
        # its console (forwarded to B's VNC port) shows B's VM.
        with Browser(root, ca, "alice") as br:
            web = "https://127.0.0.11:%d" % a.web_port
            br.login(web, "alice", pw)
            br.wait("the picker", lambda: br.driver.current_url.endswith("/vms"))
            br.wait("B's VM listed on A", lambda: br.finds("li[data-vm='%s']" % gb.name))
            br.find("li[data-vm='%s'] a.open" % gb.name).click()
            br.wait("the console connected",
                    lambda: br.js("return document.body.dataset.state") == "connected",
                    timeout=60)
            want = gb.wait_still()
            canvas = br.wait("the canvas showing B's VM",
                             lambda: (lambda c: c if c is not None and
                                      images_equal(c, want) else None)(br.canvas_image()),
                             timeout=30)
            br.screenshot("console-through-a")
            if not images_equal(canvas, want):
                fail("the browser through A: %s" % diff_images(canvas, want))
            web_logins = [e for e in audit(b) if e.get("event") == "login_ok"]
            if len(web_logins) != 3:
                fail("B's audit: no login for the browser's console: %r" % web_logins)

        # Without [instance] ca, A cannot check B: it says where the VM is instead.
        a.stop()
        a.write_config(a.extra.replace("ca = %s\n" % ca, ""))
        a.start()
        p = subprocess.run([SHOT, "--vnc", "127.0.0.11:%d" % a.vnc_port, "--user",
                            "alice", "--password-file", pwfile, "--ca", ca, "--output",
                            png + "2", "--timeout", "30"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        where = "connect to 127.0.0.12 port %d" % b.vnc_port
        if p.returncode == 0 or where not in p.stderr:
            fail("vmgate-shot --vnc through A without [instance] ca: exit %d: %s" %
                 (p.returncode, p.stderr))

        # B killed: within 5 s a login on A for B's VM gets a clear reason, not a hang.
        def shot_on_a(out):
            return subprocess.run([SHOT, "--vnc", "127.0.0.11:%d" % a.vnc_port, "--user",
                                   "alice", "--password-file", pwfile, "--ca", ca,
                                   "--output", out, "--timeout", "30"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=60)
        # What B acknowledged just before it was killed is not lost.
        for i in range(20):
            b.ok("user", "add", "acked-%d" % i, "--password-stdin", input="pw-%d\n" % i)
        b.proc.kill()
        b.proc.wait()
        killed = time.monotonic()
        down = "The gateway that holds your VM (gw-b) is not reachable"
        wait_for("a login on A refused with %r" % down,
                 lambda: down in shot_on_a(png + "3").stderr, 10)
        took = time.monotonic() - killed
        print("  B's VM refused as unreachable %.1fs after SIGKILL" % took)
        if took > 5.0 + 1.0:  # the 5 s bound, plus one login's time
            fail("refused as unreachable only %.1fs after the kill" % took)
        # B back: A sends the user there again.
        b.start()
        wait_for("A pointing at B again", lambda: where in shot_on_a(png + "4").stderr, 15)
        users = {u["name"] for u in json.loads(b.ok("user", "list", json_out=True))}
        lost = ["acked-%d" % i for i in range(20) if "acked-%d" % i not in users]
        if lost:
            fail("users B acknowledged before its SIGKILL are gone: %r" % lost)


def test_a_pool_race_across_instances_and_the_database_restarted():
    """Two users of a pool whose one VM is B's log in at once, one on A and
    one on B, three times: one gets it, the other a clear refusal (the
    logins meet on B, which holds the VM). Then the database is stopped: a
    login gets a clear error at once, not a hang; started again, logins
    resume without restarting anything."""
    with two_instances() as t:
        a, b, gb, ca = t.a, t.b, t.gb, t.ca
        pws = {}
        for u in ("u1", "u2"):
            pws[u] = "%s-%08x" % (u, random.getrandbits(32))
            a.ok("user", "add", u, "--password-stdin", input=pws[u] + "\n")
        a.ok("pool", "create", "lab")
        a.ok("pool", "add", "lab", gb.name)
        for u in ("u1", "u2"):
            a.ok("entitle", u, "lab")
        gb.wait_ready()
        where = {"u1": ("127.0.0.11", a.vnc_port), "u2": ("127.0.0.12", b.vnc_port)}
        refusals = ("The requested VM is in use by someone else", "No VM is free in your pools")
        for rnd in range(3):
            results = {}
            go = threading.Barrier(2)

            def attempt(u):
                go.wait()
                try:
                    results[u] = rfblogin.login(where[u][0], where[u][1], u, pws[u], ca)
                except rfblogin.LoginRefused as e:
                    results[u] = e
                except OSError as e:
                    results[u] = e
            threads = [threading.Thread(target=attempt, args=(u,)) for u in ("u1", "u2")]
            for th in threads:
                th.start()
            for th in threads:
                th.join(90)
            won = [u for u, r in results.items() if isinstance(r, tuple)]
            lost = [(u, r) for u, r in results.items() if isinstance(r, rfblogin.LoginRefused)]
            if len(won) != 1 or len(lost) != 1 or \
                    not any(r in str(lost[0][1]) for r in refusals):
                fail("round %d: want one winner and one clear refusal, got %r" % (rnd, results))
            print("  round %d: %s won (on %s), %s refused: %s" % (
                rnd, won[0], "A" if won[0] == "u1" else "B", lost[0][0], lost[0][1]))
            # The winner's viewer is B's whichever instance it came through.
            if not any(v.get("user") == won[0] for s in
                       json.loads(b.ok("session", "list", json_out=True))
                       for v in s.get("viewers", [])):
                fail("round %d: B's session list has no viewer of %s" % (rnd, won[0]))
            results[won[0]][0].close()
            wait_for("the pool VM free again", lambda: not any(
                s.get("viewers") for s in json.loads(b.ok("session", "list", json_out=True))),
                15)

        # The database stopped: a clear answer at once.
        t.pg.run("stop")
        t0 = time.monotonic()
        try:
            sock = rfblogin.login("127.0.0.11", a.vnc_port, "u1", pws["u1"], ca)
            sock[0].close()
            fail("a login on A succeeded with the database stopped")
        except rfblogin.LoginRefused as e:
            if "cannot check logins" not in str(e):
                fail("a login during the outage: %r" % str(e))
        took = time.monotonic() - t0
        print("  refused %.1fs into the outage" % took)
        if took > 10:
            fail("the refusal took %.1fs" % took)
        t.pg.run("start")

        def logs_in():
            try:
                sock = rfblogin.login("127.0.0.11", a.vnc_port, "u1", pws["u1"], ca)
            except (rfblogin.LoginRefused, OSError):
                return None
            sock[0].close()
            return True
        wait_for("logins on A to resume after the database came back", logs_in, 30)


def test_three_instances_a_viewer_through_a_on_c_kicked_from_b_and_revoked_on_a():
    """Three instances, A (no VM) on 127.0.0.11, B on .12 and C on .13: dave's
    VNC viewer enters through A and lands on C's VM (forwarded); B lists it
    with C's name and kicks it, and it ends within a second; dave comes back
    through A, is unassigned through A, and his viewer on C ends within two
    seconds."""
    with cluster_root("vgentr3-", "127.0.0.11", "127.0.0.12", "127.0.0.13") as (root, certs):
        ca = os.path.join(certs, "ca.crt")
        with PgCluster(root) as pg, Guest() as gb, Guest() as gc:
            ds = {}
            for name, address, guest in (("gw-a", "127.0.0.11", None),
                                         ("gw-b", "127.0.0.12", gb),
                                         ("gw-c", "127.0.0.13", gc)):
                os.makedirs(os.path.join(root, name))
                d = instance(root, name, address, guest, pg, certs)
                d.write_config(d.extra.replace("[instance]\n", "[instance]\nca = %s\n" % ca))
                ds[name] = d
            a, b, c = ds["gw-a"], ds["gw-b"], ds["gw-c"]
            with a, b, c:
                c.wait_vm(gc.name)
                wait_for("vm list on A shows %s on gw-c" % gc.name,
                         lambda: (vms(a).get(gc.name) or {}).get("instance") == "gw-c", 10)
                pw = "dave-%08x" % random.getrandbits(32)
                a.ok("user", "add", "dave", "--password-stdin", input=pw + "\n")
                a.ok("assign", "dave", gc.name, "--role", "owner")
                gc.wait_ready()

                def daves_viewer(on):
                    got = [(s["instance"], v["id"]) for s in
                           json.loads(on.ok("session", "list", json_out=True))
                           for v in s.get("viewers", []) if v.get("user") == "dave"]
                    return got[0] if got else None

                # Through A, onto C; listed on B with C's name; kicked from B.
                t, _, _ = rfblogin.login("127.0.0.11", a.vnc_port, "dave", pw, ca)
                try:
                    inst, vid = wait_for("B lists dave's viewer", lambda: daves_viewer(b), 5)
                    if inst != "gw-c":
                        fail("B lists dave's viewer on %r, not gw-c" % inst)
                    t0 = time.monotonic()
                    res = json.loads(b.ok("session", "kick", "gw-c/" + vid, json_out=True))
                    if res.get("sent") is not True:
                        fail("kick from B: %r" % res)
                    expect_ended(t, 1.0 - (time.monotonic() - t0), "kick from B of C's viewer")
                    print("  dave's viewer (A -> C) ended %.2f s after B's kick" %
                          (time.monotonic() - t0))
                finally:
                    t.close()
                wait_for("dave's viewer gone", lambda: daves_viewer(c) is None, 10)

                # Back through A; unassigned through A: his viewer on C ends.
                t, _, _ = rfblogin.login("127.0.0.11", a.vnc_port, "dave", pw, ca)
                try:
                    wait_for("C lists dave's viewer", lambda: daves_viewer(c), 5)
                    t0 = time.monotonic()
                    a.ok("unassign", "dave", gc.name)
                    expect_ended(t, 2.0 - (time.monotonic() - t0), "unassign through A")
                    print("  dave's viewer on C ended %.2f s after the unassign on A" %
                          (time.monotonic() - t0))
                finally:
                    t.close()
                with open(c.audit) as f:
                    kinds = [json.loads(l).get("event") for l in f if l.strip()]
                if kinds.count("login_ok") != 2:
                    fail("C's audit: %r" % kinds)


if __name__ == "__main__":
    run_tests([test_logins_on_a_reach_the_vm_b_holds,
               test_a_pool_race_across_instances_and_the_database_restarted,
               test_three_instances_a_viewer_through_a_on_c_kicked_from_b_and_revoked_on_a])
