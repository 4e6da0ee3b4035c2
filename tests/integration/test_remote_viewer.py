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

from test_vnc import Gateway
from vgtest import Guest, fail, run_tests
from xclient import Xvfb, run_until_shown


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
        run_until_shown(x, ["remote-viewer", vv], x.env(), want,
                        os.path.join(gw.root, "remote-viewer.log"),
                        os.path.join(gw.root, "remote-viewer-screen.png"), "remote-viewer", 60)
        with open(gw.d.audit) as f:
            logins = [l for l in f if '"login_ok"' in l and '"user":"alice"' in l]
        if not logins:
            fail("no login_ok of alice in the audit log")


if __name__ == "__main__":
    run_tests([test_remote_viewer_shows_the_vm])
