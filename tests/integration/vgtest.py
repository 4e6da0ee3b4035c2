"""Helpers for vmgate integration tests that boot the test guest.

Run tests with /usr/bin/python3 (Debian's python3-libvirt and python3-pil), as
root: the guests live in the system libvirtd, managed by tests/lib/testvirt.

    from vgtest import Guest, images_equal

    with Guest(fb="1920x1080", run="counter,--fps,10") as g:
        g.wait_serial(r"^VMGATE-GUEST-READY$", timeout=60)
        img = g.screenshot()            # PIL RGB image
        still = g.wait_still()          # two identical screenshots in a row

Serial lines are matched with Python regular expressions (re.search) on lines
with the trailing "\\r\\n" removed. Offsets are byte offsets into the serial
log, so a test can wait for something printed after a given point:

    off = g.serial_offset()
    ...                                 # make the guest do something
    g.wait_serial(r"^VMGATE-POINTER 10 20 1$", since=off)
"""

import io
import os
import re
import subprocess
import sys
import time

import libvirt
from PIL import Image, ImageChops

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TESTVIRT = os.path.join(REPO, "tests", "lib", "testvirt")
URI = "qemu:///system"

# Markers printed by the guest on its serial port (see tests/guest/build and
# tests/guest/vgwork.c).
READY = r"^VMGATE-GUEST-READY$"

_counter = 0


class TestFailure(AssertionError):
    """A test expectation that did not hold."""


def fail(msg):
    raise TestFailure(msg)


def testvirt(*args, check=True):
    """Run tests/lib/testvirt; returns its stdout (stripped)."""
    p = subprocess.run([TESTVIRT, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        fail("testvirt %s failed (exit %d): %s" % (
            " ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout.strip()


def unique_name(prefix="vgt"):
    """A domain name unique to this process and call."""
    global _counter
    _counter += 1
    test = os.path.splitext(os.path.basename(sys.argv[0] or "py"))[0]
    test = re.sub(r"[^A-Za-z0-9-]", "-", test)[:24].strip("-") or "py"
    return "%s-%s-%d-%d" % (prefix, test, os.getpid(), _counter)


class Guest:
    """A transient test domain, destroyed on exit (also on failure).

    Its serial log is removed after a clean exit and kept (path printed on
    stderr) when the block raised.

    fb: "WxH" framebuffer size (default 1024x768); run: "MODE,ARG,..." for
    vgwork at boot; extra_cmdline: more kernel parameters; name: domain name
    (default: unique per process and call; any name libvirt accepts, e.g.
    with spaces or Unicode: testvirt then knows the domain by a unique
    handle of its own); vnc_tcp: also serve the VM's VNC on 127.0.0.1:PORT
    (the benchmark's peers reach it there).
    """

    def __init__(self, fb=None, run=None, extra_cmdline=None, name=None, vnc_tcp=None):
        self.name = name or unique_name()
        self.handle = (self.name if re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", self.name)
                       else unique_name())
        self.vnc_tcp = vnc_tcp
        self.fb = fb
        self.run = run
        self.extra_cmdline = extra_cmdline
        self.conn = None
        self.dom = None
        self.serial_path = None
        self.created_at = None

    # -- lifetime ----------------------------------------------------------
    def __enter__(self):
        args = ["define", self.handle]
        if self.handle != self.name:
            args += ["--domain-name", self.name]
        if self.fb:
            args += ["--fb", self.fb]
        if self.run:
            args += ["--run", self.run]
        if self.extra_cmdline:
            args += ["--extra-cmdline", self.extra_cmdline]
        if self.vnc_tcp:
            args += ["--vnc-tcp", str(self.vnc_tcp)]
        try:
            testvirt(*args)
            self.created_at = time.monotonic()
            self.serial_path = testvirt("serial", self.handle)
            self.conn = libvirt.open(URI)
            self.dom = self.conn.lookupByName(self.name)
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.destroy()
        if exc_type is None:
            # Keep the serial log only when something went wrong.
            try:
                os.unlink(self.serial_path)
            except (OSError, TypeError):
                pass
        elif self.serial_path:
            print("  %s serial log kept: %s" % (self.name, self.serial_path),
                  file=sys.stderr, flush=True)
        return False

    def destroy(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None
            self.dom = None
        testvirt("destroy", self.handle, check=False)

    # -- serial back channel -------------------------------------------------
    def serial_offset(self):
        """Current size of the serial log (an offset for since=)."""
        try:
            return os.path.getsize(self.serial_path)
        except OSError:
            return 0

    def serial_lines(self, since=0):
        """(complete lines printed since offset `since`, new offset).

        Only whole lines are returned; a partial last line is left for the
        next call (the offset stops before it)."""
        try:
            with open(self.serial_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except OSError:
            return [], since
        end = data.rfind(b"\n")
        if end < 0:
            return [], since
        chunk = data[:end + 1]
        lines = [l.rstrip("\r") for l in
                 chunk.decode("utf-8", "replace").split("\n")[:-1]]
        return lines, since + len(chunk)

    def wait_serial(self, pattern, timeout=60, since=0):
        """Wait until a serial line printed after `since` matches `pattern`.

        Returns the re.Match. Fails with the last lines seen on timeout, or
        early when the domain stops running."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        off = since
        seen = []
        next_state_check = time.monotonic() + 1
        while True:
            lines, off = self.serial_lines(off)
            for line in lines:
                m = rx.search(line)
                if m:
                    return m
            seen = (seen + lines)[-8:]
            now = time.monotonic()
            if now >= deadline:
                fail("%s: no serial line matching %r within %ss; last lines: %r"
                     % (self.name, pattern, timeout, seen))
            if now >= next_state_check:
                next_state_check = now + 1
                if not self.is_running():
                    lines, off = self.serial_lines(off)
                    for line in lines:
                        m = rx.search(line)
                        if m:
                            return m
                    fail("%s stopped before printing %r; last lines: %r"
                         % (self.name, pattern, (seen + lines)[-8:]))
            time.sleep(0.05)

    def wait_ready(self, timeout=60):
        """Wait for VMGATE-GUEST-READY; returns seconds since creation."""
        self.wait_serial(READY, timeout=timeout)
        return time.monotonic() - self.created_at

    def is_running(self):
        try:
            state, _ = self.dom.state()
        except libvirt.libvirtError:
            return False
        return state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED,
                         libvirt.VIR_DOMAIN_BLOCKED)

    # -- screen --------------------------------------------------------------
    def screenshot(self):
        """virDomainScreenshot as a PIL RGB image (PPM or PNG from libvirt)."""
        return screenshot(self.conn, self.dom)

    def wait_still(self, interval_ms=300, timeout=20):
        """Screenshots `interval_ms` apart until two in a row are identical.

        Returns that image; fails when the screen keeps changing for
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        prev = self.screenshot()
        while True:
            time.sleep(interval_ms / 1000.0)
            cur = self.screenshot()
            if images_equal(prev, cur):
                return cur
            if time.monotonic() >= deadline:
                n, first = diff_images(prev, cur)
                fail("%s: screen still changing after %ss (%d pixels differ, "
                     "first at %s)" % (self.name, timeout, n, first))
            prev = cur

    # -- input (for quick checks; the gateway has its own input paths) --------
    def send_keys(self, *keys, holdtime=20):
        """Press keys (Linux KEY_* names or codes) together, then release."""
        codes = [k if isinstance(k, int) else _linux_key(k) for k in keys]
        self.dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, holdtime, codes,
                         len(codes), 0)

    def type_text(self, text):
        """Type text one key at a time with virDomainSendKey (US layout)."""
        for ch in text:
            self.send_keys(*_keys_for_char(ch))


def screenshot(conn, dom, screen=0):
    stream = conn.newStream(0)
    try:
        mime = dom.screenshot(stream, screen, 0)
        chunks = []

        def sink(_st, data, _opaque):
            chunks.append(bytes(data))
            return len(data)

        stream.recvAll(sink, None)
        stream.finish()
    except BaseException:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        raise
    data = b"".join(chunks)
    if mime not in ("image/png", "image/x-portable-pixmap"):
        # Let PIL sniff it anyway; libvirt only ever returned these two.
        pass
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def diff_images(a, b):
    """(number of differing pixels, (x, y) of the first one in raster order
    or None). Images of different sizes differ everywhere: (-1, None)."""
    if a.size != b.size:
        return -1, None
    a = a.convert("RGB")
    b = b.convert("RGB")
    if a.tobytes() == b.tobytes():
        return 0, None
    r, g, bl = ImageChops.difference(a, b).split()
    mask = ImageChops.lighter(ImageChops.lighter(r, g), bl).point(
        lambda v: 255 if v else 0)
    n = mask.histogram()[255]
    _, y0, _, _ = mask.getbbox()
    x0 = mask.crop((0, y0, a.size[0], y0 + 1)).getbbox()[0]
    return n, (x0, y0)


def images_equal(a, b):
    return a.size == b.size and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


def assert_images_equal(a, b, what="images"):
    """Fail with the count and first differing pixel unless a == b exactly."""
    if a.size != b.size:
        fail("%s differ in size: %s vs %s" % (what, a.size, b.size))
    n, first = diff_images(a, b)
    if n:
        x, y = first
        fail("%s differ in %d pixels; first at (%d, %d): %s vs %s" % (
            what, n, x, y, a.getpixel(first), b.getpixel(first)))


def unique_colours(img, limit=2):
    """Number of distinct colours, counting at most `limit`+1."""
    cols = img.getcolors(maxcolors=limit)
    return len(cols) if cols is not None else limit + 1


# -- counter workload decoding (see tests/guest/vgwork.c) ----------------------
COUNTER_BG = (0x20, 0x40, 0x80)


def decode_counter(img):
    """Frame number stamped by "vgwork counter", or None if the image does
    not hold a complete counter frame (torn, or another picture)."""
    w, h = img.size
    b = min(32, w // 32)
    if b < 2 or h < 2 * b + 1:
        return None
    if img.getpixel((w - 1, h - 1)) != COUNTER_BG:
        return None
    n = 0
    for i in range(32):
        top = img.getpixel((i * b + b // 2, b // 2))
        bot = img.getpixel((i * b + b // 2, b + b // 2))
        if top == (255, 255, 255) and bot == (0, 0, 0):
            n = (n << 1) | 1
        elif top == (0, 0, 0) and bot == (255, 255, 255):
            n <<= 1
        else:
            return None
    return n


# -- keys ---------------------------------------------------------------------
_LINUX_KEYS = {
    "KEY_ESC": 1, "KEY_MINUS": 12, "KEY_EQUAL": 13, "KEY_BACKSPACE": 14,
    "KEY_TAB": 15, "KEY_LEFTBRACE": 26, "KEY_RIGHTBRACE": 27, "KEY_ENTER": 28,
    "KEY_LEFTCTRL": 29, "KEY_SEMICOLON": 39, "KEY_APOSTROPHE": 40,
    "KEY_GRAVE": 41, "KEY_LEFTSHIFT": 42, "KEY_BACKSLASH": 43, "KEY_COMMA": 51,
    "KEY_DOT": 52, "KEY_SLASH": 53, "KEY_SPACE": 57, "KEY_LEFTALT": 56,
}
for _i, _c in enumerate("1234567890"):
    _LINUX_KEYS["KEY_" + _c] = 2 + _i
for _row, _start in (("QWERTYUIOP", 16), ("ASDFGHJKL", 30), ("ZXCVBNM", 44)):
    for _i, _c in enumerate(_row):
        _LINUX_KEYS["KEY_" + _c] = _start + _i

_PLAIN = {" ": "KEY_SPACE", "\n": "KEY_ENTER", "\t": "KEY_TAB", "-": "KEY_MINUS",
          "=": "KEY_EQUAL", "[": "KEY_LEFTBRACE", "]": "KEY_RIGHTBRACE",
          ";": "KEY_SEMICOLON", "'": "KEY_APOSTROPHE", "`": "KEY_GRAVE",
          "\\": "KEY_BACKSLASH", ",": "KEY_COMMA", ".": "KEY_DOT", "/": "KEY_SLASH"}
_SHIFTED = {"!": "KEY_1", "@": "KEY_2", "#": "KEY_3", "$": "KEY_4", "%": "KEY_5",
            "^": "KEY_6", "&": "KEY_7", "*": "KEY_8", "(": "KEY_9", ")": "KEY_0",
            "_": "KEY_MINUS", "+": "KEY_EQUAL", "{": "KEY_LEFTBRACE",
            "}": "KEY_RIGHTBRACE", ":": "KEY_SEMICOLON", '"': "KEY_APOSTROPHE",
            "~": "KEY_GRAVE", "|": "KEY_BACKSLASH", "<": "KEY_COMMA",
            ">": "KEY_DOT", "?": "KEY_SLASH"}


def _linux_key(name):
    try:
        return _LINUX_KEYS[name]
    except KeyError:
        raise ValueError("unknown key %r" % name) from None


def _keys_for_char(ch):
    if ch.isdigit() or ("a" <= ch <= "z"):
        return ("KEY_" + ch.upper(),)
    if "A" <= ch <= "Z":
        return ("KEY_LEFTSHIFT", "KEY_" + ch)
    if ch in _PLAIN:
        return (_PLAIN[ch],)
    if ch in _SHIFTED:
        return ("KEY_LEFTSHIFT", _SHIFTED[ch])
    raise ValueError("cannot type %r" % ch)


# -- a tiny runner --------------------------------------------------------------
def run_tests(tests):
    """Run test functions in order; print PASS/FAIL; exit 1 if any failed."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print("FAIL %s (%.1fs): %s: %s" % (t.__name__, time.monotonic() - t0,
                                                type(e).__name__, e), flush=True)
        else:
            print("PASS %s (%.1fs)" % (t.__name__, time.monotonic() - t0), flush=True)
    if failed:
        print("%d of %d tests failed" % (failed, len(tests)), flush=True)
        sys.exit(1)
    print("all %d tests passed" % len(tests), flush=True)
