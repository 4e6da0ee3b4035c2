"""A real third-party client: TigerVNC's vncviewer under Xvfb connects to
the gateway with VeNCrypt X509Plain (credentials from VNC_USERNAME and
VNC_PASSWORD) and its window shows the VM: the VM area of a screenshot of
the X screen equals the gateway's own screenshot of the VM."""

import os
import re
import subprocess
import tempfile
import time

from PIL import Image

from test_vnc import Gateway
from vgtest import Guest, diff_images, fail, run_tests


def free_display():
    for n in range(70, 200):
        if not os.path.exists("/tmp/.X11-unix/X%d" % n) and not os.path.exists("/tmp/.X%d-lock" % n):
            return ":%d" % n
    fail("no free X display")


def find_window(display, w, h, deadline):
    """Absolute position of a w × h window (the viewer's desktop area)."""
    rx = re.compile(r"\s(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)")
    while time.monotonic() < deadline:
        p = subprocess.run(["xwininfo", "-display", display, "-root", "-tree"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for m in rx.finditer(p.stdout):
            if (int(m.group(1)), int(m.group(2))) == (w, h):
                return int(m.group(3)), int(m.group(4))
        time.sleep(0.2)
    fail("no %dx%d viewer window appeared" % (w, h))


def test_tigervnc_shows_the_vm():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw:
        g1.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo seen through TigerVNC\\n")
        want = g1.wait_still()
        display = free_display()
        shot = os.path.join(gw.root, "x-screen.png")
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten",
                                 "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        viewer = None
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists("/tmp/.X11-unix/X%s" % display[1:]):
                if time.monotonic() > deadline or xvfb.poll() is not None:
                    fail("Xvfb did not start")
                time.sleep(0.05)
            env = dict(os.environ, DISPLAY=display, VNC_USERNAME="alice",
                       VNC_PASSWORD=gw.pw["alice"])
            log = open(os.path.join(gw.root, "vncviewer.log"), "w")
            # Raw encoding: lossless, so the pixels can be compared exactly.
            viewer = subprocess.Popen(["vncviewer", "-SecurityTypes", "X509Plain", "-X509CA",
                                       gw.ca, "-AutoSelect=0", "-PreferredEncoding=Raw",
                                       "127.0.0.1::%d" % gw.d.vnc_port], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            x, y = find_window(display, want.width, want.height, deadline)
            while True:
                subprocess.run(["import", "-display", display, "-window", "root", shot],
                               check=True)
                area = Image.open(shot).convert("RGB").crop(
                    (x, y, x + want.width, y + want.height))
                n, first = diff_images(area, want)
                if n == 0:
                    break
                if viewer.poll() is not None or time.monotonic() > deadline:
                    fail("the viewer's window differs from the VM in %d pixels (first at %s); "
                         "viewer log: %s" % (n, first,
                                             open(os.path.join(gw.root, "vncviewer.log")).read()[-800:]))
                time.sleep(0.3)
        finally:
            if viewer:
                viewer.terminate()
                viewer.wait()
            xvfb.terminate()
            xvfb.wait()


if __name__ == "__main__":
    run_tests([test_tigervnc_shows_the_vm])
