"""VM lifecycle as the registry sees it: destroying a VM closes its console
with a reason; starting it again reopens the console by itself; a libvirtd
restart is recovered within 5 s and events keep flowing afterwards."""

import os
import signal
import subprocess
import tempfile
import time

from PIL import Image

from bridge import Monitor
from vgtest import URI, assert_images_equal, fail, run_tests, screenshot, testvirt, unique_name

import libvirt

STATE = os.environ.get("VMGATE_TEST_STATE", "/run/vmgate-test")
TMP = tempfile.mkdtemp(prefix="vglife-")


def virsh(*args):
    subprocess.run(["virsh", "-q", "-c", URI] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


class PersistentGuest:
    """A defined (persistent) test domain, so that it can be started again."""

    def __init__(self):
        self.name = unique_name("vgp")

    def __enter__(self):
        xml = testvirt("xml", self.name)
        path = os.path.join(TMP, self.name + ".xml")
        with open(path, "w") as f:
            f.write(xml)
        virsh("define", path)
        return self

    def __exit__(self, *exc):
        testvirt("destroy", self.name, check=False)
        subprocess.run(["virsh", "-q", "-c", URI, "undefine", self.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return False


def pid_of(name):
    p = subprocess.run(["pgrep", "-x", name], stdout=subprocess.PIPE, text=True)
    return [int(x) for x in p.stdout.split()]


def restart_libvirtd(sig=signal.SIGTERM, while_down=None):
    """Stop libvirtd with @sig and start it again; returns (the time it was
    started, the time it answered). @while_down() runs once the old daemon
    has gone, before the new one starts (which it does even when
    @while_down fails). If testvirt started the old one, it owns the new
    one too."""
    old = pid_of("libvirtd")
    if not old:
        fail("libvirtd is not running")
    # Started again as it was (testvirt may have given it a configuration).
    with open("/proc/%d/cmdline" % old[0], "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    if "-d" not in argv and "--daemon" not in argv:
        argv.append("-d")
    for pid in old:
        os.kill(pid, sig)
    deadline = time.monotonic() + 30
    try:
        while any(os.path.exists("/proc/%d" % p) for p in old):
            if time.monotonic() > deadline:
                fail("libvirtd did not stop within 30 s")
            time.sleep(0.05)
        if while_down:
            while_down()
    finally:
        started = time.monotonic()
        deadline = started + 30
        if not any(os.path.exists("/proc/%d" % p) for p in old):
            subprocess.run(argv, check=True, close_fds=True)
    new = []
    while not new:
        if time.monotonic() > deadline:
            fail("libvirtd did not come back")
        new = pid_of("libvirtd")
        time.sleep(0.02)
    marker = os.path.join(STATE, "libvirtd.started")
    if os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("%d\n" % new[0])
    # When does the new daemon answer? (It reconnects to running QEMUs first.)
    while subprocess.run(["virsh", "-q", "-c", URI, "uri"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL).returncode != 0:
        if time.monotonic() > deadline:
            fail("libvirtd does not answer")
        time.sleep(0.05)
    return started, time.monotonic()


def test_destroy_start_and_libvirtd_restart():
    with PersistentGuest() as g, Monitor() as m:
        m.expect("^CONNECTED$", timeout=30)
        virsh("start", g.name)
        m.expect(r"^CONSOLE-OPEN %s$" % g.name, timeout=30)
        m.expect(r"^RESIZE %s 1024x768$" % g.name, timeout=90)

        # Destroy: the console closes, and says why.
        virsh("destroy", g.name)
        _, mt = m.expect(r"^CLOSED %s (.*)$" % g.name, timeout=30)
        if "destroyed" not in mt.group(1):
            fail("close reason %r does not say the VM was destroyed" % mt.group(1))
        m.expect(r"^VM %s shut-off 0$" % g.name, timeout=30)

        # Start again: the console comes back by itself.
        virsh("start", g.name)
        m.expect(r"^CONSOLE-OPEN %s$" % g.name, timeout=30)
        m.expect(r"^RESIZE %s 1024x768$" % g.name, timeout=90)

        # libvirtd restart: reconnected within 5 s of the daemon's start.
        m.forget()
        started, answering = restart_libvirtd()
        m.expect("^DISCONNECTED ", timeout=30)
        t, _ = m.expect("^CONNECTED$", timeout=30)
        print("libvirtd answered %.2f s after its start; reconnected %.2f s after its start"
              % (answering - started, t - started), flush=True)
        if t - answering > 5:
            fail("reconnection took %.1f s after libvirtd answered, want <= 5"
                 % (t - answering))

        # The console survived (its socket goes to QEMU) and still shows the VM.
        path = os.path.join(TMP, "after-restart.png")
        m.send("shot %s %s 1000 60" % (g.name, path))
        _, mt = m.expect(r"^SHOT-(OK|FAIL) %s" % g.name, timeout=90)
        if mt.group(1) != "OK":
            fail("no screenshot after the libvirtd restart")
        conn = libvirt.open(URI)
        try:
            dom = conn.lookupByName(g.name)
            assert_images_equal(Image.open(path).convert("RGB"), screenshot(conn, dom),
                                "surface vs libvirt after the restart")
        finally:
            conn.close()

        # Events flow on the new connection.
        virsh("destroy", g.name)
        _, mt = m.expect(r"^CLOSED %s (.*)$" % g.name, timeout=30)
        if "destroyed" not in mt.group(1):
            fail("close reason after restart %r" % mt.group(1))


if __name__ == "__main__":
    run_tests([test_destroy_start_and_libvirtd_restart])
