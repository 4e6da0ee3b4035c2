"""vmgate-shot scripts against the real guest, over libvirt, VNC (through
vmgated) and RDP (through vmgated) alike: one session types a command, waits
for a needle cut from a known screen, clicks where the guest's USB tablet
reports it back on the serial line, types on the German layout and checks
what arrives, reads text with Tesseract; the JUnit file lists every step as
passed. A needle that never appears fails within its timeout with the best
similarity and keeps the screen and a diff image; scripts that do not check
out fail before connecting, naming file and line."""

import json
import os
import random
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from PIL import Image

from bridge import SHOT, Daemon, shot
from vgtest import URI, Guest, fail, run_tests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKCERTS = os.path.join(REPO, "certs", "mkcerts")
TMP = tempfile.mkdtemp(prefix="vgscript-")
os.chmod(TMP, 0o755)

BANNER = "== vmgate CI check =="
# The banner's line on the 8 x 16 console font, from the top-left corner.
BANNER_AREA = (0, 0, 8 * len(BANNER), 16)


class OneVmGateway:
    """vmgated with a certificate and one user, alice, who owns the guest;
    mode_args() gives vmgate-shot's arguments for VNC or RDP."""

    def __init__(self, g):
        self.root = tempfile.mkdtemp(prefix="vgscript-gw-")
        os.chmod(self.root, 0o755)
        certs = os.path.join(self.root, "certs")
        subprocess.run([MKCERTS, certs], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.ca = os.path.join(certs, "ca.crt")
        self.d = Daemon(self.root, extra="[tls]\ncertificate = %s\nkey = %s\n" % (
            os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")))
        self.g = g
        self.pw_file = os.path.join(self.root, "alice.pw")

    def __enter__(self):
        self.d.start()
        pw = "alice-%08x" % random.getrandbits(32)
        self.d.ok("user", "add", "alice", "--nla", "--password-stdin", input=pw + "\n")
        with open(self.pw_file, "w") as f:
            f.write(pw + "\n")
        self.d.wait_vm(self.g.name)
        self.d.ok("assign", "alice", self.g.name)
        return self

    def __exit__(self, *exc):
        return self.d.__exit__(*exc)

    def mode_args(self, mode):
        port = self.d.vnc_port if mode == "vnc" else self.d.rdp_port
        return ["--" + mode, "127.0.0.1:%d" % port, "--user", "alice", "--password-file",
                self.pw_file, "--ca", self.ca]


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run_script(mode_args, script_text, name, *extra, timeout=300):
    """Run a script; returns (exit code, stderr, junit path, json path)."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    script = write(os.path.join(d, "script.vgs"), script_text)
    junit = os.path.join(d, "results.xml")
    js = os.path.join(d, "results.json")
    rc, err = shot(*mode_args, "--script", script, "--junit", junit, "--json", js, *extra,
                   timeout=timeout)
    return rc, err, junit, js


def junit_cases(path):
    """[(name, outcome, message)] of a JUnit file: outcome passed, failed or
    skipped."""
    out = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        f, s = tc.find("failure"), tc.find("skipped")
        if f is not None:
            out.append((tc.get("name"), "failed", f.get("message")))
        elif s is not None:
            out.append((tc.get("name"), "skipped", s.get("message")))
        else:
            out.append((tc.get("name"), "passed", None))
    return out


def step_count(script_text):
    return sum(1 for l in script_text.splitlines() if l.strip() and not l.strip().startswith("#"))


def cut_banner_needle(mode_args, name):
    """A known screen (the banner printed after clearing the console),
    screenshot in the same mode, and a needle cut from it."""
    d = os.path.join(TMP, name)
    ref = os.path.join(d, "reference.png")
    rc, err, _, _ = run_script(mode_args, "type 'clear; echo \"%s\"\\n'\n"
                                          "wait-still 1000\n"
                                          "screenshot %s\n" % (BANNER, ref), name)
    if rc != 0:
        fail("reference screen: exit %d: %s" % (rc, err))
    needle = os.path.join(d, "needles", "banner")
    os.makedirs(os.path.dirname(needle), exist_ok=True)
    p = subprocess.run([SHOT, "needle", "--from", ref, "--area", "%d,%d,%d,%d" % BANNER_AREA,
                        "--name", needle, "--margin", "8"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    if p.returncode != 0:
        fail("vmgate-shot needle: exit %d: %s" % (p.returncode, p.stderr))
    with open(needle + ".json") as f:
        area = json.load(f)["area"][0]
    if (area["xpos"], area["ypos"], area["width"], area["height"]) != BANNER_AREA:
        fail("needle area %r, want %r" % (area, BANNER_AREA))
    return needle


def session_script(needle_dir):
    """The checked session. Pointer positions are chosen away from the
    banner so the clicks cannot disturb it."""
    return """# vmgate-shot CI session: types, waits for needles and text, clicks.
# The shell's line editor drops keys typed while it sets up a new prompt:
# each command waits until the screen is still before the next one types.
type 'clear\\n'
wait-gone {nd}/banner --timeout 30
wait-still 1000
type 'clear; echo "{banner}"\\n'
wait-screen {nd}/banner --timeout 60
assert-screen {nd}/banner
expect-fail assert-screen {nd}/banner-never
click 517 383
click right 100 200
double-click 300 300
drag 400 400 500 450
scroll down 2 600 300
click-needle {nd}/banner --timeout 10
wait-still 1000
type 'loadkmap < /etc/vmgate/keymaps/de.bmap\\n'
wait-still 1000
layout de
type 'echo zy@\u00fc > /dev/ttyS0\\n'
wait-still 1000
type 'echo combo-'
key shift-z
type ' > /dev/ttyS0\\n'
wait-still 1000
type 'echo sum $((20+22))\\n'
wait-text 'sum 42' --timeout 60
key ctrl-l
wait-still 300
""".format(nd=needle_dir, banner=BANNER)


def never_needle(banner):
    """The banner needle with its area's pixels changed: it never matches."""
    img = Image.open(banner + ".png").convert("RGB")
    x, y, w, h = BANNER_AREA
    for i in range(x, x + w):
        for j in range(y, y + h):
            if (i + j) % 3 == 0:
                img.putpixel((i, j), (255, 0, 255))
    never = banner + "-never"
    img.save(never + ".png")
    with open(banner + ".json") as f, open(never + ".json", "w") as g:
        g.write(f.read())
    return never


def check_session(g, mode_args, name):
    needle = cut_banner_needle(mode_args, name)
    never_needle(needle)
    text = session_script(os.path.dirname(needle))
    off = g.serial_offset()
    t0 = time.monotonic()
    rc, err, junit, js = run_script(mode_args, text, name + "-session")
    took = time.monotonic() - t0
    if rc != 0:
        fail("%s session: exit %d after %.1fs: %s" % (name, rc, took, err.strip()))
    # The JUnit file lists every step, each passed.
    cases = junit_cases(junit)
    if len(cases) != step_count(text):
        fail("JUnit lists %d test cases, the script has %d steps" % (len(cases), step_count(text)))
    bad = [c for c in cases if c[1] != "passed"]
    if bad:
        fail("JUnit cases not passed: %r" % bad)
    with open(js) as f:
        report = json.load(f)
    if not report["passed"] or [s["status"] for s in report["steps"]] != ["passed"] * len(cases):
        fail("JSON report: %r" % report)
    waited = [s for s in report["steps"] if s["step"] == "wait-screen"][0]
    if waited["similarity"] < 96:
        fail("wait-screen passed with similarity %r" % waited["similarity"])

    # What the guest saw, in this order (other lines may come between).
    cx, cy = BANNER_AREA[0] + BANNER_AREA[2] // 2, BANNER_AREA[1] + BANNER_AREA[3] // 2
    want = [
        (r"^VMGATE-POINTER 517 383 1$", "left press at 517,383"),
        (r"^VMGATE-POINTER 517 383 0$", "left release"),
        (r"^VMGATE-POINTER 100 200 4$", "right press at 100,200"),
        (r"^VMGATE-POINTER 100 200 0$", "right release"),
        (r"^VMGATE-POINTER 300 300 1$", "double click, first press"),
        (r"^VMGATE-POINTER 300 300 0$", "double click, first release"),
        (r"^VMGATE-POINTER 300 300 1$", "double click, second press"),
        (r"^VMGATE-POINTER 300 300 0$", "double click, second release"),
        (r"^VMGATE-POINTER 400 400 1$", "drag: press at the start"),
        (r"^VMGATE-POINTER 500 450 1$", "drag: held at the end"),
        (r"^VMGATE-POINTER 500 450 0$", "drag: release"),
        (r"^VMGATE-WHEEL -\d+$", "wheel down"),
        (r"^VMGATE-POINTER %d %d 1$" % (cx, cy), "click-needle at the banner's centre"),
        # Typed on the de layout into a console with the German keymap: z
        # and y are swapped there, @ is AltGr+Q, \u00fc has its own key.
        ("^zy@\u00fc$", "the de text"),
        ("^combo-Z$", "shift-z on de"),
    ]
    g.wait_serial(want[-1][0], timeout=30, since=off)
    lines, _ = g.serial_lines(off)
    i = 0
    for pattern, what in want:
        while i < len(lines) and not re.search(pattern, lines[i]):
            i += 1
        if i == len(lines):
            fail("%s: the guest never reported %s (%r); serial: %r" % (name, what, pattern,
                                                                         lines[-40:]))
        i += 1
    return junit


def test_session_over_libvirt():
    with Guest(run="pointer") as g:
        g.wait_ready()
        g.wait_serial("^VMGATE-WORK-STARTED pointer$", timeout=60)
        check_session(g, ["--libvirt", URI, "--domain", g.name], "libvirt")


def test_session_over_vnc():
    with Guest(run="pointer") as g:
        g.wait_ready()
        g.wait_serial("^VMGATE-WORK-STARTED pointer$", timeout=60)
        with OneVmGateway(g) as gw:
            check_session(g, gw.mode_args("vnc"), "vnc")


def test_session_over_rdp():
    with Guest(run="pointer") as g:
        g.wait_ready()
        g.wait_serial("^VMGATE-WORK-STARTED pointer$", timeout=60)
        with OneVmGateway(g) as gw:
            check_session(g, gw.mode_args("rdp"), "rdp")


def test_needle_that_never_appears_fails_in_time_with_evidence():
    with Guest() as g:
        g.wait_ready()
        mode = ["--libvirt", URI, "--domain", g.name]
        needle = cut_banner_needle(mode, "never")
        never = never_needle(needle)
        text = ("type 'clear; echo \"%s\"\\n'\n"
                "wait-screen %s --timeout 4\n"
                "screenshot %s/not-reached.png\n" % (BANNER, never, TMP))
        t0 = time.monotonic()
        rc, err, junit, js = run_script(mode, text, "never-run")
        took = time.monotonic() - t0
        if rc != 1:
            fail("exit %d, want 1: %s" % (rc, err))
        if took > 4 + 20:
            fail("the 4 s wait took %.1fs in all" % took)
        m = re.search(r"script\.vgs:2: wait-screen: needle 'banner-never' not found within 4 s: "
                      r"best similarity (\d+\.\d)%, it needs 96\.0%", err)
        if not m:
            fail("stderr lacks the best similarity: %r" % err)
        best = float(m.group(1))
        # The banner is there; two thirds of its pixels still agree.
        if not 50 <= best < 96:
            fail("best similarity %.1f%%, want between 50 and 96" % best)
        cases = junit_cases(junit)
        if [c[1] for c in cases] != ["passed", "failed", "skipped"]:
            fail("JUnit outcomes %r" % cases)
        if "best similarity %.1f%%" % best not in cases[1][2]:
            fail("JUnit failure message %r" % cases[1][2])
        with open(js) as f:
            step = json.load(f)["steps"][1]
        screen, diff = step.get("screen"), step.get("diff")
        if not screen or not diff or abs(step["similarity"] - best) > 0.05:
            fail("JSON step %r" % step)
        base = os.path.join(TMP, "never-run", "results-step02-wait-screen")
        if (screen, diff) != (base + "-screen.png", base + "-diff.png"):
            fail("artifacts %r %r, want beside the report" % (screen, diff))
        with Image.open(screen) as s, Image.open(diff) as d:
            if s.size != (1024, 768) or d.size != (1024, 768):
                fail("artifact sizes %r %r" % (s.size, d.size))
            red = sum(1 for px in d.convert("RGB").crop(BANNER_AREA).getdata()
                      if px == (255, 0, 0))
            if red == 0:
                fail("the diff image shows no differing pixel in the banner")
        with open(junit) as f:
            if "[[ATTACHMENT|%s]]" % screen not in f.read():
                fail("JUnit does not attach the failing screen")
        if os.path.exists(os.path.join(TMP, "not-reached.png")):
            fail("a step after the failure ran")


def test_bad_scripts_fail_before_connecting_naming_file_and_line():
    d = os.path.join(TMP, "bad")
    os.makedirs(d, exist_ok=True)
    script = write(os.path.join(d, "bad.vgs"),
                   "# comment\n"
                   "type 'fine'\n"
                   "frobnicate now\n"
                   "click left 10\n"
                   "wait-screen missing-needle --timeout 5\n"
                   "scroll sideways\n"
                   "wait-text\n"
                   "layout xx\n")
    # Nothing listens there: a connection attempt would be exit 4.
    for mode in (["--libvirt", "qemu+unix:///system?socket=/nonexistent.sock", "--domain", "x"],
                 ["--vnc", "127.0.0.1:1", "--user", "u", "--password-file", script,
                  "--insecure"]):
        t0 = time.monotonic()
        rc, err = shot(*mode, "--script", script, timeout=60)
        if rc != 2:
            fail("%s: exit %d, want 2: %s" % (mode[0], rc, err))
        for line, what in ((3, "unknown step 'frobnicate'"), (4, "click takes"),
                           (5, "missing-needle.png does not exist"), (6, "scroll takes"),
                           (7, "wait-text takes"), (8, "no keyboard layout 'xx'")):
            if "%s:%d: " % (script, line) not in err or what not in err:
                fail("%s: no error for line %d (%s): %r" % (mode[0], line, what, err))
        if ":2:" in err or "connect" in err:
            fail("%s: unexpected: %r" % (mode[0], err))
        if time.monotonic() - t0 > 10:
            fail("refusing the script took %.1fs" % (time.monotonic() - t0))
    # A script with nothing to do would pass without looking: refused.
    empty = write(os.path.join(d, "empty.vgs"), "# nothing yet\n\n")
    rc, err = shot("--libvirt", URI, "--domain", "x", "--script", empty, timeout=60)
    if rc != 2 or "has no steps" not in err:
        fail("empty script: exit %d: %r" % (rc, err))
    # The same from standard input, and a layout that cannot type the text.
    p = subprocess.run([SHOT, "--libvirt", URI, "--domain", "x", "--script", "-"],
                       input="type 'gr\u00fc\u00df'\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, encoding="utf-8", timeout=60)
    if p.returncode != 2 or "<stdin>:1: type: '\u00fc' (U+00FC) has no key on layout us" \
            not in p.stderr:
        fail("stdin: exit %d: %r" % (p.returncode, p.stderr))


def test_a_failed_connection_is_in_the_reports_with_its_reason():
    d = os.path.join(TMP, "noconn")
    os.makedirs(d, exist_ok=True)
    pw = write(os.path.join(d, "pw"), "x\n")
    text = "type hi\nwait-still 100\n"
    for mode, reason in ((["--vnc", "127.0.0.1:1", "--user", "u", "--password-file", pw,
                           "--insecure"], "cannot connect to 127.0.0.1:1: Connection refused"),
                         (["--libvirt", URI, "--domain", "vmgate-no-such-domain"],
                          "no domain 'vmgate-no-such-domain'")):
        rc, err, junit, js = run_script(mode, text, "noconn-" + mode[0].strip("-"))
        if rc != 4:
            fail("%s: exit %d, want 4: %s" % (mode[0], rc, err))
        cases = junit_cases(junit)
        if [c[1] for c in cases] != ["failed", "skipped", "skipped"] or cases[0][0] != "connect" \
                or reason not in cases[0][2]:
            fail("%s: JUnit %r" % (mode[0], cases))
        with open(js) as f:
            report = json.load(f)
        if report["passed"] or report["exit_code"] != 4 or reason not in report["steps"][0]["message"]:
            fail("%s: JSON %r" % (mode[0], report))


if __name__ == "__main__":
    run_tests([
        test_bad_scripts_fail_before_connecting_naming_file_and_line,
        test_a_failed_connection_is_in_the_reports_with_its_reason,
        test_needle_that_never_appears_fails_in_time_with_evidence,
        test_session_over_libvirt,
        test_session_over_vnc,
        test_session_over_rdp,
    ])
