"""scripts/demo, as a new user runs it: it ends with a gateway that
vmgate-shot reaches over VNC and RDP with the printed credentials and
command lines, xfreerdp3 as printed shows the VM, the printed web address
serves the login page and alice logs in there, and Ctrl-C stops what it
started."""

import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from PIL import Image

from bridge import SHOT, VMGATECTL, free_port
from vgtest import URI, fail, run_tests
from xclient import Xvfb, XFreeRDP

import libvirt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextlib.contextmanager
def demo_running(state, *args):
    """scripts/demo --state @state @args in a session of its own, as a user
    runs it in a terminal; yields what it printed once it says it is ready.
    On the way out: Ctrl-C, and it must stop within 120 s, say so, and
    leave no vmgated, PostgreSQL server or demo VM behind."""
    out = open(os.path.join(state, "demo.out"), "w+")
    demo = subprocess.Popen([os.path.join(REPO, "scripts", "demo"), "--state", state] +
                            list(args), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "The gateway is ready" not in open(out.name).read():
            if demo.poll() is not None or time.monotonic() > deadline:
                fail("the demo did not get ready: %s" % open(out.name).read()[-1500:])
            time.sleep(0.2)
        yield open(out.name).read()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        try:
            demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            fail("the demo did not stop on Ctrl-C")
    if "demo stopped" not in open(out.name).read():
        fail("no stop message: %s" % open(out.name).read()[-500:])
    left = subprocess.run(["pgrep", "-f", "vmgated --config %s/|postgres -D %s/" % (state, state)],
                          stdout=subprocess.PIPE, text=True).stdout
    if left.strip():
        fail("the demo left processes behind: %s" % left)
    conn = libvirt.open(URI)
    try:
        vms = [n for n in conn.listDefinedDomains() + [d.name() for d in conn.listAllDomains()]
               if n.startswith("vmgate-demo-")]
    finally:
        conn.close()
    if vms:
        fail("the demo left VMs behind: %r" % vms)


def test_demo_serves_the_printed_users_and_stops_on_ctrl_c():
    state = tempfile.mkdtemp(prefix="vgdemo-")
    port = free_port()
    rdp_port = free_port()
    web_port = free_port()
    metrics_port = free_port()
    with demo_running(state, "--port", str(port), "--rdp-port", str(rdp_port),
                      "--web-port", str(web_port), "--metrics-port", str(metrics_port)) \
            as printed:
        creds = dict(l.strip().split(":", 1) for l in open(os.path.join(state, "credentials")))
        if set(creds) != {"alice", "bob"}:
            fail("credentials file: %r" % creds)
        for user, pw in creds.items():
            if "%s:%s" % (user, pw) not in printed:
                fail("the demo did not print %s's password" % user)
        # The printed metrics URL answers.
        m = re.search(r"^Metrics: (http://\S+:(\d+)/metrics)", printed, re.M)
        if not m or int(m.group(2)) != metrics_port:
            fail("the demo printed no metrics URL: %s" % printed[-1500:])
        with urllib.request.urlopen(m.group(1), timeout=10) as r:
            if "vmgate_build_info{" not in r.read().decode():
                fail("%s has no vmgate_build_info" % m.group(1))
        for user, pw in creds.items():
            pwfile = os.path.join(state, "pw-" + user)
            with open(pwfile, "w") as f:
                f.write(pw + "\n")
            png = os.path.join(state, user + ".png")
            p = subprocess.run([SHOT, "--vnc", "127.0.0.1:%d" % port, "--user", user,
                                "--password-file", pwfile, "--ca", os.path.join(state, "ca.crt"),
                                "--output", png, "--timeout", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                fail("vmgate-shot as %s: exit %d: %s" % (user, p.returncode, p.stderr))
            if Image.open(png).size[0] < 640:
                fail("%s's screenshot is too small: %r" % (user, Image.open(png).size))
        # The printed vmgate-shot --rdp command, as printed (with its "\"
        # continuation), from the state directory.
        m = re.search(r"^\s*(\S*vmgate-shot --rdp .*?\\\n.*)$", printed, re.M)
        if not m:
            fail("the demo printed no vmgate-shot --rdp line: %s" % printed[-1500:])
        argv = shlex.split(m.group(1).replace("\\\n", " "))
        p = subprocess.run(argv, cwd=state, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=180)
        if p.returncode != 0:
            fail("the printed %s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr))
        png = os.path.join(state, "alice-rdp.png")
        if Image.open(png).size[0] < 640:
            fail("the RDP screenshot is too small: %r" % (Image.open(png).size,))
        # The printed xfreerdp3 line: CA-checked, NLA, the password typed in
        # (here handed over by the harness, never on its command line).
        m = re.search(r"SSL_CERT_FILE=(\S+) xfreerdp3 /v:127\.0\.0\.1:(\d+) /u:alice "
                      r"/cert:deny,name:(\S+)", printed)
        if not m or int(m.group(2)) != rdp_port:
            fail("the demo printed no usable xfreerdp3 line: %s" % printed[-1500:])
        with Xvfb(1280, 1024) as x, \
                XFreeRDP(x, "127.0.0.1", rdp_port, "alice", creds["alice"], version=3,
                         sec=None, gfx=True, size=(1024, 768), ca=m.group(1),
                         cert_name=m.group(3), workdir=state) as c:
            c.wait_window(1024, 768, time.monotonic() + 60)
            shown = c.screenshot_window()
        if shown.getbbox() is None:
            fail("xfreerdp3's window is black")
        # The printed web address serves the login page, and alice logs in.
        m = re.search(r"https://localhost:(\d+)/", printed)
        if not m or int(m.group(1)) != web_port:
            fail("the demo printed no web address: %s" % printed[-1500:])
        ctx = ssl.create_default_context(cafile=os.path.join(state, "ca.crt"))
        c = http.client.HTTPSConnection("localhost", web_port, context=ctx, timeout=30)
        c.request("GET", "/login")
        r = c.getresponse()
        page = r.read().decode()
        c.close()
        if r.status != 200 or "<form id=\"login\"" not in page:
            fail("the web address: %d %r" % (r.status, page[:200]))
        # One request per connection: vmgated closes each after its answer.
        c = http.client.HTTPSConnection("localhost", web_port, context=ctx, timeout=30)
        c.request("POST", "/api/login", body=urllib.parse.urlencode(
            {"user": "alice", "password": creds["alice"]}), headers={
            "Origin": "https://localhost:%d" % web_port, "X-Requested-With": "test",
            "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200 or "__Host-vmgate=" not in (r.getheader("Set-Cookie") or ""):
            fail("alice's web login: %d" % r.status)


def test_demo_cluster_serves_alice_through_any_instance():
    """scripts/demo --cluster: three instances up and listed through
    STATE/admin.sock, alice's VM (on gw2) reached through gw1 with the
    printed vmgate-shot command and with xfreerdp3 (redirected), and Ctrl-C
    stops the instances, the VMs and the PostgreSQL server."""
    state = tempfile.mkdtemp(prefix="vgdemo-cl-")
    ports = {k: free_port() for k in ("port", "rdp-port", "web-port", "metrics-port")}
    args = ["--cluster"]
    for k, v in ports.items():
        args += ["--" + k, str(v)]
    with demo_running(state, *args) as printed:
        creds = dict(l.strip().split(":", 1) for l in open(os.path.join(state, "credentials")))
        listing = subprocess.run([VMGATECTL, "--socket", os.path.join(state, "admin.sock"),
                                  "--json", "instance", "list"], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout
        insts = {i["name"]: i for i in json.loads(listing)}
        if sorted(insts) != ["gw1", "gw2", "gw3"] or \
                any(i["status"] != "up" or i["vms"] != 1 for i in insts.values()) or \
                [insts["gw%d" % n]["address"] for n in (1, 2, 3)] != \
                ["127.0.0.11", "127.0.0.12", "127.0.0.13"]:
            fail("instance list through STATE/admin.sock: %r" % insts)
        # The printed vmgate-shot --vnc command, as printed, through gw1.
        m = re.search(r"^\s*(\S*vmgate-shot --vnc 127\.0\.0\.11:.*?\\\n.*)$", printed, re.M)
        if not m:
            fail("the demo printed no vmgate-shot --vnc line: %s" % printed[-1500:])
        argv = shlex.split(m.group(1).replace("\\\n", " "))
        p = subprocess.run(argv, cwd=state, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=180)
        if p.returncode != 0:
            fail("the printed %s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr))
        if Image.open(os.path.join(state, "alice.png")).size[0] < 640:
            fail("alice's screenshot is too small")
        with open(os.path.join(state, "gw1", "vmgated.log")) as f:
            if "forwarded to the gateway that holds the VM" not in f.read():
                fail("gw1 did not forward alice's VNC viewer to gw2")
        # xfreerdp3 through gw1, as printed.
        if "xfreerdp3 /v:127.0.0.11:%d /u:alice /cert:deny,name:localhost" % ports["rdp-port"] \
                not in printed:
            fail("the demo printed no xfreerdp3 line for gw1: %s" % printed[-1500:])
        with Xvfb(1280, 1024) as x, \
                XFreeRDP(x, "127.0.0.11", ports["rdp-port"], "alice", creds["alice"], version=3,
                         sec=None, gfx=True, size=(1024, 768),
                         ca=os.path.join(state, "ca.crt"), cert_name="localhost") as c:
            # (A work directory of its own: the client makes it 0700, and
            # the demo's PostgreSQL server must still reach STATE/pg.)
            deadline = time.monotonic() + 90
            c.wait_window(1024, 768, deadline)
            # The VM's prompt, once the redirected session drew it.
            if c.wait_screenshot(lambda im: im.getbbox() is not None, deadline).getbbox() is None:
                fail("xfreerdp3's window stayed black")
        with open(os.path.join(state, "gw2", "audit.log")) as f:
            if not any(json.loads(l).get("event") == "login_ok" and
                       json.loads(l).get("user") == "alice" for l in f if l.strip()):
                fail("gw2 has no login of alice's")


if __name__ == "__main__":
    run_tests([test_demo_serves_the_printed_users_and_stops_on_ctrl_c,
               test_demo_cluster_serves_alice_through_any_instance])
