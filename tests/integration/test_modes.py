"""The capture follows the guest's mode changes without desync: VGA text to
framebuffer during boot, a 1920x1080 guest, and a mode switch while running.
After each change the console's screen equals libvirt's screenshot."""

import os
import tempfile

from PIL import Image

from bridge import Monitor, shot_libvirt
from vgtest import Guest, assert_images_equal, fail, run_tests

TMP = tempfile.mkdtemp(prefix="vgmodes-")


def monitor_shot(m, g, name):
    """Screenshot from the registry's live surface once it is still."""
    path = os.path.join(TMP, name)
    m.send("shot %s %s 1000 60" % (g.name, path))
    _, mt = m.expect(r"^SHOT-(OK|FAIL) %s(.*)$" % g.name, timeout=90)
    if mt.group(1) != "OK":
        fail("shot failed: %s" % mt.group(2))
    return Image.open(path).convert("RGB")


def test_boot_from_vga_text_to_framebuffer():
    with Monitor() as m:
        m.expect("^CONNECTED$", timeout=30)
        with Guest() as g:
            # The console opens while the firmware is still in VGA text mode.
            m.expect(r"^CONSOLE-OPEN %s$" % g.name, timeout=30)
            _, first = m.expect(r"^RESIZE %s (\d+)x(\d+)$" % g.name, timeout=30)
            if first.group(0).endswith("1024x768"):
                fail("console opened too late to see the boot mode")
            m.expect(r"^RESIZE %s 1024x768$" % g.name, timeout=90)
            g.wait_ready()
            still = g.wait_still()
            mine = monitor_shot(m, g, "boot.png")
            assert_images_equal(mine, g.screenshot(), "surface vs libvirt after boot")
            assert_images_equal(still, g.screenshot(), "libvirt screenshots around the shot")


def test_full_hd_guest():
    with Guest(fb="1920x1080") as g:
        g.wait_ready()
        g.wait_still()
        out = os.path.join(TMP, "fullhd.png")
        rc, err = shot_libvirt(g.name, out, "--wait-stable", "1000", "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot exit %d: %s" % (rc, err))
        mine = Image.open(out).convert("RGB")
        if mine.size != (1920, 1080):
            fail("shot is %dx%d, want 1920x1080" % mine.size)
        assert_images_equal(mine, g.screenshot(), "1080p shot vs libvirt")


def test_mode_switch_while_running():
    with Guest(run="mode,1920x1080") as g, Monitor() as m:
        g.wait_ready()
        g.wait_serial(r"^VMGATE-MODE 1920x1080$", timeout=60)
        m.expect(r"^RESIZE %s 1920x1080$" % g.name, timeout=60)
        still = g.wait_still()
        mine = monitor_shot(m, g, "switched.png")
        if mine.size != (1920, 1080):
            fail("surface is %dx%d after the switch" % mine.size)
        assert_images_equal(mine, g.screenshot(), "surface vs libvirt after the switch")
        assert_images_equal(still, g.screenshot(), "libvirt screenshots around the shot")


if __name__ == "__main__":
    run_tests([test_boot_from_vga_text_to_framebuffer, test_full_hd_guest,
               test_mode_switch_while_running])
