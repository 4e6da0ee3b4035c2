"""Pointer input through the console reaches the guest at the right
coordinates, with buttons and wheel (the guest's vgwork reports what its USB
tablet saw on the serial port)."""

import time

from bridge import Monitor
from vgtest import Guest, fail, run_tests


def test_pointer_positions_buttons_and_wheel():
    with Guest(run="pointer") as g, Monitor() as m:
        g.wait_ready()
        g.wait_serial("^VMGATE-WORK-STARTED pointer$", timeout=60)
        m.expect(r"^RESIZE %s 1024x768$" % g.name, timeout=60)
        cases = [(100, 200, 0), (517, 383, 1), (517, 383, 0), (1023, 767, 4),
                 (1023, 767, 0), (640, 10, 2), (640, 10, 0)]
        for x, y, b in cases:
            off = g.serial_offset()
            m.send("pointer %s %d %d %d" % (g.name, x, y, b))
            m.expect("^POINTER-OK$", timeout=10)
            g.wait_serial(r"^VMGATE-POINTER %d %d %d$" % (x, y, b), timeout=20, since=off)
        # The tablet reports changes only; (0, 0) after the rest is one.
        off = g.serial_offset()
        m.send("pointer %s 0 0 0" % g.name)
        m.expect("^POINTER-OK$", timeout=10)
        g.wait_serial(r"^VMGATE-POINTER 0 0 0$", timeout=20, since=off)
        # Out-of-screen positions are clamped to the edge, not wrapped.
        off = g.serial_offset()
        m.send("pointer %s 5000 -30 0" % g.name)
        m.expect("^POINTER-OK$", timeout=10)
        g.wait_serial(r"^VMGATE-POINTER 1023 0 0$", timeout=20, since=off)
        # Wheel. QEMU's USB tablet merges wheel motion the guest has not
        # read yet, so compare sums: two steps down, then one up (evdev:
        # down is negative).
        for steps, want in ((2, -2), (-1, 1)):
            off = g.serial_offset()
            m.send("wheel %s 300 300 %d" % (g.name, steps))
            m.expect("^WHEEL-OK$", timeout=10)
            total = 0
            deadline = time.monotonic() + 20
            while total != want:
                if time.monotonic() > deadline:
                    fail("wheel %d: guest saw a total of %d, want %d" % (steps, total, want))
                g.wait_serial(r"^VMGATE-WHEEL -?\d+$", timeout=20, since=off)
                lines, off = g.serial_lines(off)
                total += sum(int(l.split()[1]) for l in lines if l.startswith("VMGATE-WHEEL"))


def test_typing_through_the_registry_console():
    import random
    with Guest() as g, Monitor() as m:
        g.wait_ready()
        m.expect(r"^RESIZE %s 1024x768$" % g.name, timeout=60)
        token = "vg%08x" % random.getrandbits(32)
        off = g.serial_offset()
        m.send("type %s echo %s > /dev/ttyS0\\n" % (g.name, token))
        m.expect("^TYPE-OK$", timeout=30)
        g.wait_serial("^%s$" % token, timeout=30, since=off)


if __name__ == "__main__":
    run_tests([test_pointer_positions_buttons_and_wheel, test_typing_through_the_registry_console])
