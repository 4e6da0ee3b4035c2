"""scripts/demo, as a new user runs it: it ends with a gateway that
vmgate-shot reaches with the printed credentials, and Ctrl-C stops what it
started."""

import os
import signal
import subprocess
import tempfile
import time

from PIL import Image

from bridge import SHOT, free_port
from vgtest import URI, fail, run_tests

import libvirt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_serves_the_printed_users_and_stops_on_ctrl_c():
    state = tempfile.mkdtemp(prefix="vgdemo-")
    port = free_port()
    out = open(os.path.join(state, "demo.out"), "w+")
    demo = subprocess.Popen([os.path.join(REPO, "scripts", "demo"), "--state", state,
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "The gateway is ready" not in open(out.name).read():
            if demo.poll() is not None or time.monotonic() > deadline:
                fail("the demo did not get ready: %s" % open(out.name).read()[-1500:])
            time.sleep(0.2)
        printed = open(out.name).read()
        creds = dict(l.strip().split(":", 1) for l in open(os.path.join(state, "credentials")))
        if set(creds) != {"alice", "bob"}:
            fail("credentials file: %r" % creds)
        for user, pw in creds.items():
            if "%s:%s" % (user, pw) not in printed:
                fail("the demo did not print %s's password" % user)
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
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        try:
            demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            fail("the demo did not stop on Ctrl-C")
    conn = libvirt.open(URI)
    try:
        left = [n for n in conn.listDefinedDomains() + [d.name() for d in conn.listAllDomains()]
                if n.startswith("vmgate-demo-")]
    finally:
        conn.close()
    if left:
        fail("the demo left VMs behind: %r" % left)
    if "demo stopped" not in open(out.name).read():
        fail("no stop message: %s" % open(out.name).read()[-500:])


if __name__ == "__main__":
    run_tests([test_demo_serves_the_printed_users_and_stops_on_ctrl_c])
