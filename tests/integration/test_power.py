"""The broker against the real libvirtd: a shut-off VM assigned to a user
is started by power on demand at login, wrong passwords are refused the same
way as unknown users, and both are audited."""

import os
import subprocess
import tempfile

from bridge import BUILD, Daemon
from test_lifecycle import PersistentGuest, virsh
from vgtest import URI, fail, run_tests

import libvirt

PROBE = os.path.join(BUILD, "tests", "broker-probe")


def probe(db, login, password, *extra):
    pw = tempfile.NamedTemporaryFile("w", delete=False)
    pw.write(password + "\n")
    pw.close()
    try:
        p = subprocess.run([PROBE, db, login, pw.name] + list(extra), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.unlink(pw.name)
    return p.returncode, p.stdout.splitlines(), p.stderr


def test_power_on_demand_and_refusals():
    root = tempfile.mkdtemp(prefix="vgpow-")
    with PersistentGuest() as g, Daemon(root) as d:
        d.ok("user", "add", "dana", "--password-stdin", input="dana-pw-1\n")
        d.ok("user", "add", "erin", "--password-stdin", input="erin-pw-1\n")
        d.wait_vm(g.name)
        d.ok("assign", "dana", g.name)
        db = os.path.join(d.state, "vmgate.db")
        conn = libvirt.open(URI)
        try:
            dom = conn.lookupByName(g.name)
            if dom.isActive():
                fail("the VM should start shut off")
            rc, out, err = probe(db, "dana", "dana-pw-1")
            if rc != 0 or not out[0].startswith("OK %s owner 1 " % g.name):
                fail("login: exit %d %r %s" % (rc, out, err[-500:]))
            if not dom.isActive():
                fail("the VM is not running after the login")
            if not any("AUDIT power" in l and "action=start" in l for l in out):
                fail("no power audit record: %r" % out)
            # Wrong password and unknown user: the same answer.
            rc1, out1, _ = probe(db, "dana", "wrong")
            rc2, out2, _ = probe(db, "nobody-at-all", "wrong")
            if rc1 == 0 or rc2 == 0 or out1[0] != out2[0] or not out1[0].startswith("AUTH_FAILED"):
                fail("refusals differ or passed: %r / %r" % (out1[:1], out2[:1]))
            if not any("login_failed" in l for l in out1):
                fail("failed login not audited: %r" % out1)
            # Authenticated but nothing assigned: refused with a reason.
            rc, out, _ = probe(db, "erin", "erin-pw-1")
            if rc == 0 or not out[0].startswith("REFUSED"):
                fail("user without a VM: %r" % out)
            # Asking for a VM one may not use is refused.
            rc, out, _ = probe(db, "%s/erin" % g.name, "erin-pw-1")
            if rc == 0 or not out[0].startswith("REFUSED"):
                fail("request for someone else's VM: %r" % out)
        finally:
            conn.close()


if __name__ == "__main__":
    run_tests([test_power_on_demand_and_refusals])
