"""A real third-party client: Remmina under Xvfb, through its RDP plugin
(FreeRDP) and its VNC plugin (libvncclient), logs in to the gateway from a
.remmina profile and shows the VM: the VM's screen, found in a screenshot
of the X screen, equals libvirt's screenshot pixel for pixel. Remmina's
configuration, data and cache go to a directory of the test's own."""

import os

from test_vnc import Gateway
from vgtest import Guest, run_tests
from xclient import Xvfb, run_until_shown


def remmina_shows(gw, g, x, profile_lines, name):
    want = g.wait_still()
    home = os.path.join(gw.root, "remmina-" + name)
    for d in ("config", "data", "cache"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    profile = os.path.join(home, name + ".remmina")
    fd = os.open(profile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        # A window large enough for the whole 1024x768 screen at 1:1.
        f.write("[remmina]\nname=%s\nwindow_width=1200\nwindow_height=1000\n%s\n" %
                (name, "\n".join(profile_lines)))
    env = x.env(HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"),
                XDG_DATA_HOME=os.path.join(home, "data"),
                XDG_CACHE_HOME=os.path.join(home, "cache"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    run_until_shown(x, ["remmina", "-c", profile], env, want,
                    os.path.join(home, "remmina.log"), os.path.join(home, "screen.png"),
                    "Remmina (%s)" % name, 90)


def test_remmina_rdp_shows_the_vm():
    # Lossless on the gateway: the comparison is exact.
    with Guest() as g1, Guest() as g2, Gateway(g1, g2, nla=True, rdp="lossless = true\n") as gw, \
            Xvfb(1280, 1024) as x:
        g1.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo seen through Remmina RDP\\n")
        remmina_shows(gw, g1, x, [
            "protocol=RDP", "server=localhost:%d" % gw.d.rdp_port, "username=alice",
            "password=%s" % gw.pw["alice"], "security=nla", "cert_ignore=1", "colordepth=32",
            "scale=0", "disableautoreconnect=1", "window_maximize=0", "viewmode=1"], "rdp")


def test_remmina_vnc_shows_the_vm():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw, Xvfb(1280, 1024) as x:
        g1.wait_ready()
        gw.d.ok("send-keys", g1.name, "echo seen through Remmina VNC\\n")
        remmina_shows(gw, g1, x, [
            "protocol=VNC", "server=localhost:%d" % gw.d.vnc_port, "username=alice",
            "password=%s" % gw.pw["alice"], "quality=9", "colordepth=32", "scale=0",
            "viewmode=1", "cacert=%s" % gw.ca], "vnc")


if __name__ == "__main__":
    run_tests([test_remmina_rdp_shows_the_vm, test_remmina_vnc_shows_the_vm])
