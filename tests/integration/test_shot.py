"""vmgate-shot in libvirt mode against the real guest: the screenshot is
the guest's screen, typing reaches the guest, exit codes mean what they say."""

import os
import random
import tempfile

from PIL import Image

from bridge import shot, shot_libvirt
from vgtest import Guest, assert_images_equal, fail, run_tests

TMP = tempfile.mkdtemp(prefix="vgshot-")


def test_shot_of_still_console_equals_libvirt_screenshot():
    with Guest() as g:
        g.wait_ready()
        before = g.wait_still()
        out = os.path.join(TMP, "still.png")
        rc, err = shot_libvirt(g.name, out, "--wait-stable", "1000", "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot exit %d: %s" % (rc, err))
        after = g.screenshot()
        # The screen did not move during the shot: then it must equal both.
        assert_images_equal(before, after, "libvirt screenshots around the shot")
        mine = Image.open(out).convert("RGB")
        if mine.size != (1024, 768):
            fail("shot is %dx%d, want 1024x768" % mine.size)
        assert_images_equal(mine, after, "vmgate-shot vs virDomainScreenshot")


def test_typed_text_reaches_the_guest():
    with Guest() as g:
        g.wait_ready()
        token = "vg%08x" % random.getrandbits(32)
        off = g.serial_offset()
        rc, err = shot_libvirt(g.name, os.path.join(TMP, "typed.png"),
                               "--type", "echo %s > /dev/ttyS0\\n" % token,
                               "--wait-stable", "300", "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot exit %d: %s" % (rc, err))
        g.wait_serial("^%s$" % token, timeout=30, since=off)


def test_shifted_characters_arrive_exactly():
    with Guest() as g:
        g.wait_ready()
        text = "Hi, World! {vg}<&>|~ A_Z \"q\" 1+2=3 #$%^*()?:"
        off = g.serial_offset()
        rc, err = shot_libvirt(g.name, os.path.join(TMP, "shifted.png"),
                               "--type", "echo '%s' > /dev/ttyS0\\n" % text,
                               "--wait-stable", "300", "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot exit %d: %s" % (rc, err))
        g.wait_serial("^Hi, ", timeout=30, since=off)
        got, _ = g.serial_lines(off)
        if text not in got:
            fail("serial has %r, want %r" % (got, text))


def test_exit_codes():
    with Guest(run="counter,--fps,20") as g:
        g.wait_ready()
        g.wait_serial("^VMGATE-WORK-STARTED counter$", timeout=60)
        # A screen that never stops changing: timed out (1).
        rc, err = shot_libvirt(g.name, os.path.join(TMP, "never.png"),
                               "--wait-stable", "2000", "--timeout", "4")
        if rc != 1 or "timed out" not in err:
            fail("changing screen: exit %d (%s), want 1" % (rc, err.strip()))
        # Output into a missing directory: 5, and a clear message.
        rc, err = shot_libvirt(g.name, os.path.join(TMP, "no", "such", "dir.png"))
        if rc != 5 or "cannot write" not in err:
            fail("bad output path: exit %d (%s), want 5" % (rc, err.strip()))
    # Unknown domain and unreachable libvirt: could not connect (4).
    rc, err = shot_libvirt("vmgate-no-such-domain", os.path.join(TMP, "x.png"))
    if rc != 4 or "no domain" not in err:
        fail("unknown domain: exit %d (%s), want 4" % (rc, err.strip()))
    rc, err = shot("--libvirt", "qemu+unix:///system?socket=/nonexistent.sock", "--domain", "x",
                   "--output", os.path.join(TMP, "x.png"))
    if rc != 4 or "cannot connect" not in err:
        fail("unreachable libvirt: exit %d (%s), want 4" % (rc, err.strip()))
    # Usage errors: 2, with a hint.
    for args in (["--domain", "x", "--output", "x.png"],
                 ["--libvirt", "qemu:///system", "--output", "x.png"],
                 ["--libvirt", "qemu:///system", "--domain", "x"],
                 ["--libvirt", "qemu:///system", "--domain", "x", "-o", "x.png", "--type", "\\q"],
                 ["--libvirt", "qemu:///system", "--domain", "x", "-o", "x.png", "--type", "é"],
                 ["--libvirt", "qemu:///system", "--domain", "x", "-o", "x.png", "--timeout", "0"],
                 ["--bogus"]):
        rc, err = shot(*args)
        if rc != 2 or "vmgate-shot:" not in err:
            fail("usage %r: exit %d (%s), want 2" % (args, rc, err.strip()))
    rc, err = shot("--help")
    if rc != 0:
        fail("--help exit %d" % rc)


if __name__ == "__main__":
    run_tests([
        test_shot_of_still_console_equals_libvirt_screenshot,
        test_typed_text_reaches_the_guest,
        test_shifted_characters_arrive_exactly,
        test_exit_codes,
    ])
