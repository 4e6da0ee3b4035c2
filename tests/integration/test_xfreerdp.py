"""Real third-party RDP clients: xfreerdp from FreeRDP 2 (Debian 12) and
xfreerdp3 from FreeRDP 3, under Xvfb, log in with NLA, with the graphics
pipeline and without it, verify the gateway's certificate against the test
CA, and their window shows the VM: pixel for pixel what libvirt's
screenshot shows (the gateway refines anything H.264 blurred as soon as the
screen is still). A guest mode change is followed by the client's window."""

import os
import random
import re
import subprocess
import time

from bridge import free_port
from test_metrics import scrape, value
from vgtest import Guest, diff_images, fail, images_equal, run_tests
from test_rdp import RdpGateway
from xclient import Xvfb, XFreeRDP


def gfx_frames(gw):
    with open(gw.d.log) as f:
        return f.read().count("graphics pipeline version")


def test_xfreerdp_2_and_3_show_the_vm():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo seen through xfreerdp\\n")
        want = g1.wait_still()
        for version in (2, 3):
            for gfx in (True, False):
                what = "xfreerdp%s %s" % ("3" if version == 3 else "", "/gfx" if gfx else "no gfx")
                before = gfx_frames(gw)
                with Xvfb(1280, 1024) as x, \
                        XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"],
                                 version=version, sec="nla", gfx=gfx, size=(1024, 768),
                                 ca=gw.ca, cert_name="localhost",
                                 workdir=gw.root) as c:
                    deadline = time.monotonic() + 60
                    c.wait_window(1024, 768, deadline)
                    img = c.wait_screenshot(lambda im: images_equal(im, want), deadline)
                    if not images_equal(img, want):
                        fail("%s: the window differs from the VM: %s" %
                             (what, diff_images(img, want)))
                used = gfx_frames(gw) > before
                if used != gfx:
                    fail("%s: the gateway %s the graphics pipeline" %
                         (what, "used" if used else "did not use"))
        # Every session started with bitmap updates (GFX takes over once its
        # channel is up), all of them planar-compressed.
        with open(gw.d.log) as f:
            log = f.read()
        if log.count("bitmap updates, planar-compressed") != 4 or "uncompressed (" in log:
            fail("bitmap updates were not planar-compressed in every session")


def test_xfreerdp3_follows_a_guest_mode_change():
    """With the graphics pipeline (ResetGraphics) and without it
    (DesktopResize and reactivation)."""
    for gfx in (True, False):
        with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
            g1.wait_ready()
            g1.wait_still()
            with Xvfb(2200, 1300) as x, \
                    XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"], version=3,
                             sec="nla", gfx=gfx, size=(1024, 768), ca=gw.ca,
                             cert_name="localhost", workdir=gw.root) as c:
                c.wait_window(1024, 768, time.monotonic() + 60)
                gw.d.ok("send-keys", g1.name, "vgwork mode 1920x1080 &\n")
                g1.wait_serial(r"^VMGATE-MODE 1920x1080$", timeout=60)
                c.wait_window(1920, 1080, time.monotonic() + 60)
                want = g1.wait_still()
                if want.size != (1920, 1080):
                    fail("the guest is %dx%d" % want.size)
                img = c.wait_screenshot(lambda im: images_equal(im, want),
                                        time.monotonic() + 60)
                if not images_equal(img, want):
                    fail("gfx=%s: after the mode change the window differs: %s" %
                         (gfx, diff_images(img, want)))


def test_xfreerdp_names_the_vm():
    """/pcb:<name> (FreeRDP 2 and 3) and a routing token (FreeRDP 3's
    /load-balance-info:"Cookie: msts=<name>") take bob to g1, which he may
    only watch; his own VM is g2."""
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g2.wait_ready()
        gw.d.ok("send-keys", g2.name, "echo bob's own vm\n")
        g2.wait_still()
        want = g1.wait_still()
        for version, how, kw in ((3, "pcb", dict(pcb=g1.name)), (2, "pcb", dict(pcb=g1.name)),
                                 (3, "token", dict(extra=("/load-balance-info:Cookie: msts=%s"
                                                          % g1.name,)))):
            with Xvfb(1280, 1024) as x, \
                    XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "bob", gw.pw["bob"], version=version,
                             sec="nla", gfx=True, size=(1024, 768), ca=gw.ca,
                             cert_name="localhost", workdir=gw.root, **kw) as c:
                deadline = time.monotonic() + 60
                c.wait_window(1024, 768, deadline)
                img = c.wait_screenshot(lambda im: images_equal(im, want), deadline)
                if not images_equal(img, want):
                    fail("xfreerdp%s by %s: not g1's screen: %s" %
                         (version, how, diff_images(img, want)))
        with open(gw.d.log) as f:
            n = len(re.findall(r"user=bob vm=%s: viewer v\d+ attached as observer" %
                               re.escape(g1.name), f.read()))
        if n != 3:
            fail("bob was attached to g1 %d times, want 3" % n)


def test_xfreerdp3_input_reaches_the_guest():
    """Keys typed into xfreerdp3's window (as Unicode key events, and as
    scancodes), pointer moves, buttons and the wheel reach the guest, which
    reports them on its serial line. (Extended buttons and the horizontal
    wheel are translated too, but QEMU 7.2's VNC server, the capture hop,
    has no bits for them.)"""
    with Guest(run="pointer") as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        g1.wait_ready()
        g1.wait_serial("^VMGATE-WORK-STARTED pointer$", timeout=60)
        for unicode in (True, False):
            extra = ("/kbd:unicode:on",) if unicode else ()
            with Xvfb(1280, 1024) as x, \
                    XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"], version=3,
                             sec="nla", gfx=True, size=(1024, 768), ca=gw.ca,
                             cert_name="localhost", workdir=gw.root, extra=extra) as c:
                wx, wy = c.wait_window(1024, 768, time.monotonic() + 60)

                def xdo(*args):
                    subprocess.run(["xdotool"] + [str(a) for a in args], env=x.env(),
                                   check=True, timeout=30)

                def expect(pattern, since):
                    g1.wait_serial(pattern, timeout=20, since=since)

                wid = c.window[0]
                xdo("windowfocus", "--sync", int(wid, 16))
                token = "Rd%08x_Ok!" % random.getrandbits(32)
                off = g1.serial_offset()
                xdo("type", "--delay", "40", "echo '%s' > /dev/ttyS0" % token)
                xdo("key", "Return")
                expect("^%s$" % re.escape(token), off)
                # Pointer: positions, the three buttons, the wheel.
                for px, py in ((100, 200), (517, 383)):
                    off = g1.serial_offset()
                    xdo("mousemove", wx + px, wy + py)
                    expect(r"^VMGATE-POINTER %d %d 0$" % (px, py), off)
                for button, bit in ((1, 1), (3, 4), (2, 2)):
                    off = g1.serial_offset()
                    xdo("mousedown", button)
                    expect(r"^VMGATE-POINTER 517 383 %d$" % bit, off)
                    off = g1.serial_offset()
                    xdo("mouseup", button)
                    expect(r"^VMGATE-POINTER 517 383 0$", off)
                off = g1.serial_offset()
                xdo("click", 5)
                expect(r"^VMGATE-WHEEL -\d+$", off)
        with open(gw.d.log) as f:
            n = f.read().count("the client sends Unicode key events")
        if n != 1:
            fail("Unicode key events were seen in %d sessions, want 1" % n)


def test_h264_for_motion_refined_to_exact_and_off_in_lossless_mode():
    """A client that allows AVC420 gets H.264 for full-screen noise, from
    libx264 with the configured preset, and once the noise stops its window
    is exact again; with [rdp] lossless = true the same client never gets
    H.264."""
    for lossless in (False, True):
        conf = "lossless = true\n" if lossless else "h264_preset = veryfast\n"
        with Guest() as g1, Guest() as g2, RdpGateway(g1, g2, rdp=conf) as gw:
            g1.wait_ready()
            g1.wait_still()
            with Xvfb(1280, 1024) as x, \
                    XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"], version=3,
                             sec="nla", gfx="AVC420", size=(1024, 768), ca=gw.ca,
                             cert_name="localhost", workdir=gw.root) as c:
                c.wait_window(1024, 768, time.monotonic() + 60)
                off = g1.serial_offset()
                gw.d.ok("send-keys", g1.name, "vgwork noise --fps 10 --frames 30 --exit\n")
                g1.wait_serial(r"^VMGATE-WORK-DONE noise", timeout=90, since=off)
                gw.d.ok("send-keys", g1.name, "echo after the noise\n")
                want = g1.wait_still()
                img = c.wait_screenshot(lambda im: images_equal(im, want),
                                        time.monotonic() + 30)
                if not images_equal(img, want):
                    fail("lossless=%s: the window is not exact after the motion: %s" %
                         (lossless, diff_images(img, want)))
            with open(gw.d.log) as f:
                log = f.read()
            used = "H.264 (libx264 veryfast) in use for motion" in log
            if used == lossless:
                fail("lossless=%s: H.264 %s" % (lossless, "was used" if used else "was not used"))


def test_scrolling_and_a_dragged_window_are_moved_on_the_client_and_stay_exact():
    """A guest scrolling text, then moving a window about, to xfreerdp3 on
    the lossless graphics pipeline: the client is told to move what it
    shows (frames counted as "move" in the metrics) and gets only what came
    in; the last frame, held on screen, is exact in its window."""
    port = free_port()
    with Guest() as g1, Guest() as g2, \
            RdpGateway(g1, g2, extra="[metrics]\nenabled = true\nport = %d\n" % port,
                       rdp="lossless = true\n") as gw:
        g1.wait_ready()
        g1.wait_still()
        with Xvfb(1280, 1024) as x, \
                XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"], version=3,
                         sec="nla", gfx=True, size=(1024, 768), ca=gw.ca,
                         cert_name="localhost", workdir=gw.root) as c:
            c.wait_window(1024, 768, time.monotonic() + 60)
            for work in ("scroll", "window"):
                before = scrape(port)
                off = g1.serial_offset()
                # The last frame stays on screen until vgwork is killed: the
                # client's picture of it is what the moves built (leaving
                # graphics mode would repaint the whole screen).
                gw.d.ok("send-keys", g1.name, "vgwork %s --fps 10 --frames 40 &\n" % work)
                g1.wait_serial(r"^VMGATE-WORK-DONE %s" % work, timeout=90, since=off)
                after = scrape(port)
                want = g1.wait_still()
                img = c.wait_screenshot(lambda im: images_equal(im, want), time.monotonic() + 30)
                if not images_equal(img, want):
                    fail("the window is not exact after the %s: %s" %
                         (work, diff_images(img, want)))
                gw.d.ok("send-keys", g1.name, "kill $!; wait\n")

                def frames(s, codec):
                    return value(s, "vmgate_frames_sent_total", protocol="rdp", codec=codec) or 0
                moves = frames(after, "move") - frames(before, "move")
                others = sum(frames(after, k) - frames(before, k)
                             for k in ("planar", "uncompressed"))
                print("%s: %d frames moved, %d sent as pixels" % (work, moves, others))
                # 40 frames of the guest, of which QEMU shows most: at least
                # a quarter of them must have been moves.
                if moves < 10:
                    fail("%s: only %d frames were moves (%d sent as pixels)" %
                         (work, moves, others))


def test_xfreerdp_forcing_standard_rdp_security_is_refused():
    with Guest() as g1, Guest() as g2, RdpGateway(g1, g2) as gw:
        for version in (2, 3):
            with Xvfb(1280, 1024) as x, \
                    XFreeRDP(x, "127.0.0.1", gw.d.rdp_port, "alice", gw.pw["alice"],
                             version=version, sec="rdp", gfx=True, size=(1024, 768),
                             workdir=gw.root) as c:
                rc = c.wait_exit(60)
                if rc is None or rc == 0:
                    fail("xfreerdp%s /sec:rdp: still connected or exit 0 (%r)" %
                         ("3" if version == 3 else "", rc))
        with open(gw.d.log) as f:
            if "attached" in f.read():
                fail("a standard-security client was attached")
        if any(r.get("event") == "login_ok" for r in gw.audit()):
            fail("a standard-security client logged in")


if __name__ == "__main__":
    run_tests([test_xfreerdp_2_and_3_show_the_vm, test_xfreerdp3_follows_a_guest_mode_change,
               test_xfreerdp_names_the_vm, test_xfreerdp3_input_reaches_the_guest,
               test_h264_for_motion_refined_to_exact_and_off_in_lossless_mode,
               test_scrolling_and_a_dragged_window_are_moved_on_the_client_and_stay_exact,
               test_xfreerdp_forcing_standard_rdp_security_is_refused])
