"""A real third-party client: virt-viewer's remote-viewer (gtk-vnc) under
Xvfb logs in to the gateway with VeNCrypt X509Plain from a .vv file and
shows the VM: the VM's screen, found in a screenshot of the X screen,
equals libvirt's screenshot of the VM pixel for pixel.

remote-viewer 11 takes the CA only from .pki/CA/cacert.pem in the home
directory of the user's passwd entry (not $HOME, not the file's ca= key):
the test puts the gateway's CA there for the run and puts back what was
there before."""

import os
import shutil
import subprocess
import time

from test_vnc import Gateway
from vgtest import Guest, diff_images, fail, run_tests
from xclient import Xvfb


def locate(screen, want):
    """(x, y) of @want's top-left corner in @screen, or None: where the row
    of @want with the most colours (a uniform row, all black say, would
    match any black area) appears whole in @screen."""
    w, h = want.size
    best, best_n = 0, 0
    for r in range(h):
        n = len(want.crop((0, r, w, r + 1)).getcolors(w) or [])
        if n > best_n:
            best, best_n = r, n
    row = want.crop((0, best, w, best + 1)).tobytes()
    sw, sh = screen.size
    data = screen.tobytes()
    stride = sw * 3
    for y in range(best, sh - (h - best) + 1):
        line = data[y * stride:(y + 1) * stride]
        i = line.find(row)
        while i >= 0:
            if i % 3 == 0:
                return i // 3, y - best
            i = line.find(row, i + 1)
    return None


class PkiCA:
    """The gateway's CA as root's ~/.pki/CA/cacert.pem for the block."""

    def __init__(self, ca):
        self.ca = ca
        self.path = os.path.expanduser("~root/.pki/CA/cacert.pem")
        self.saved = self.path + ".vgtest-saved"

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path) and not os.path.exists(self.saved):
            os.rename(self.path, self.saved)
        shutil.copyfile(self.ca, self.path)
        return self

    def __exit__(self, *exc):
        os.unlink(self.path)
        if os.path.exists(self.saved):
            os.rename(self.saved, self.path)
        return False


def test_remote_viewer_shows_the_vm():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw, PkiCA(gw.ca), \
            Xvfb(1280, 1024) as x:
        g1.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo seen through remote-viewer\\n")
        want = g1.wait_still()
        vv = os.path.join(gw.root, "alice.vv")
        fd = os.open(vv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("[virt-viewer]\ntype=vnc\nhost=localhost\nport=%d\nusername=alice\n"
                    "password=%s\n" % (gw.d.vnc_port, gw.pw["alice"]))
        log_path = os.path.join(gw.root, "remote-viewer.log")
        with open(log_path, "w") as log:
            viewer = subprocess.Popen(["remote-viewer", vv], env=x.env(), stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                screen = x.screenshot()
                at = locate(screen, want)
                n = -1
                if at:
                    area = screen.crop((at[0], at[1], at[0] + want.width, at[1] + want.height))
                    n, first = diff_images(area, want)
                    if n == 0:
                        break
                if viewer.poll() is not None or time.monotonic() > deadline:
                    screen.save(os.path.join(gw.root, "remote-viewer-screen.png"))
                    with open(log_path) as f:
                        tail = f.read()[-800:]
                    fail("remote-viewer does not show the VM (found at %s, %d pixels differ; "
                         "exit %s); screen kept in %s; log: %s" %
                         (at, n, viewer.poll(), gw.root, tail))
                time.sleep(0.3)
            with open(gw.d.audit) as f:
                logins = [l for l in f if '"login_ok"' in l and '"user":"alice"' in l]
            if not logins:
                fail("no login_ok of alice in the audit log")
        finally:
            viewer.terminate()
            try:
                viewer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                viewer.kill()
                viewer.wait()


if __name__ == "__main__":
    run_tests([test_remote_viewer_shows_the_vm])
