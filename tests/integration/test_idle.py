"""Idle policy: a pool VM nobody views is suspended once its pool's idle
minutes are up (the shortest setting, one minute), and that is audited."""

import json
import tempfile
import time

from bridge import Daemon
from vgtest import Guest, fail, run_tests

import libvirt


def test_unviewed_pool_vm_is_suspended():
    with Guest() as g, Daemon(tempfile.mkdtemp(prefix="vgidle-")) as d:
        g.wait_ready()
        d.wait_vm(g.name)
        d.ok("pool", "create", "idlers", "--idle-action", "suspend", "--idle-minutes", "1")
        d.ok("pool", "add", "idlers", g.name)
        added = time.monotonic()
        deadline = added + 120
        while True:
            state, _ = g.dom.state()
            if state == libvirt.VIR_DOMAIN_PAUSED:
                break
            if time.monotonic() > deadline:
                fail("the VM was not suspended within 120 s; log: %s" % d.log_tail())
            time.sleep(0.5)
        took = time.monotonic() - added
        print("suspended %.0f s after it joined the pool" % took, flush=True)
        if took < 59:
            fail("suspended after %.0f s, before its idle minute was up" % took)
        records = [json.loads(l) for l in open(d.audit)]
        if not any(r.get("event") == "power" and r.get("vm") == g.name and
                   r.get("action") == "suspend" for r in records):
            fail("no audit record of the suspension: %r" % records[-3:])


if __name__ == "__main__":
    run_tests([test_unviewed_pool_vm_is_suspended])
