#!/usr/bin/python3
"""The test guest boots, shows a console, honours --fb and --run.

Run as root: /usr/bin/python3 tests/integration/test_guest_boots.py
Exits 0 when every test passed, 1 otherwise (one PASS/FAIL line per test).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vgtest  # noqa: E402
from vgtest import Guest, fail  # noqa: E402

# Under TCG the guest is up about 3 s after "virsh create"; allow for a
# loaded machine, but a boot this slow is a failure worth seeing.
BOOT_TIMEOUT = 60


def test_boots_to_ready():
    with Guest() as g:
        took = g.wait_ready(timeout=BOOT_TIMEOUT)
        print("  ready %.1f s after creation" % took, flush=True)
        img = g.wait_still()
        if img.size != (1024, 768):
            fail("screenshot is %dx%d, want 1024x768" % img.size)
        if vgtest.unique_colours(img) < 2:
            fail("screenshot is a single colour %s: no console text"
                 % (img.getpixel((0, 0)),))
        # The cursor does not blink: the still console stays pixel-still.
        for _ in range(8):
            time.sleep(0.15)
            vgtest.assert_images_equal(img, g.screenshot(), "console screenshots")


def test_fb_1920x1080():
    with Guest(fb="1920x1080") as g:
        g.wait_ready(timeout=BOOT_TIMEOUT)
        g.wait_serial(r"^VMGATE-FB 1920x1080$", timeout=5)
        img = g.wait_still()
        if img.size != (1920, 1080):
            fail("screenshot is %dx%d, want 1920x1080" % img.size)


def test_run_pointer():
    with Guest(run="pointer") as g:
        g.wait_ready(timeout=BOOT_TIMEOUT)
        g.wait_serial(r"^VMGATE-WORK-STARTED pointer$", timeout=30)


def main():
    if os.geteuid() != 0:
        print("FAIL: run as root (the test guests live in the system libvirtd)",
              flush=True)
        sys.exit(1)
    vgtest.testvirt("up")
    vgtest.run_tests([test_boots_to_ready, test_fb_1920x1080, test_run_pointer])


if __name__ == "__main__":
    main()
