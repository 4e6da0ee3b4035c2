"""Real X clients under Xvfb, and screenshots of their windows: FreeRDP's
xfreerdp (2.11, Debian's freerdp2-x11) and xfreerdp3 (3.10, freerdp3-x11
from bookworm-backports) against the RDP front end.

    from xclient import Xvfb, XFreeRDP

    with Xvfb(1280, 1024) as x, \\
         XFreeRDP(x, "127.0.0.1", port, "alice", pw, version=3, sec="nla",
                  gfx=True, size=(1024, 768), ca=ca, cert_name="localhost") as c:
        c.wait_window(1024, 768, time.monotonic() + 60)
        img = c.screenshot_window()             # PIL RGB, 1024 x 768
        ...
    # both are stopped here (also on failure; the client's log is then kept)

Credentials never appear in argv or the environment: xfreerdp3 reads its
whole command line from a pipe (/args-from:fd:N; ps shows "xfreerdp3
/args-from:fd:4"), xfreerdp 2 (which has no /args-from) reads the password
from a 0600 .rdp file in a private directory ("password:s:"), deleted when
the client stops. Both run with stdin on /dev/null and without a
controlling terminal, so a client that wants to prompt (password=None)
fails at once instead of waiting.

Certificates: with ca=FILE the client verifies the server against that CA
only (SSL_CERT_FILE=FILE, SSL_CERT_DIR=an empty directory: OpenSSL's default
verify paths, which FreeRDP uses) and /cert:deny makes any failure end the
connection (exit 143) instead of prompting; neither version has an option
naming a CA file. FreeRDP matches the host name against the certificate's CN
and DNS names only, not IP addresses: connecting to 127.0.0.1 with vmgate's
development certificate (CN and DNS localhost) needs cert_name="localhost"
(/cert:deny,name:localhost). Without ca: /cert:ignore.

Graphics: both versions turn the graphics pipeline (and H.264) on by default
("network auto-detect"), and "-gfx" does not turn it off (it is parsed as
/gfx). gfx=False passes /bpp:32 (and, for FreeRDP 2, "connection type:i:6"
in its .rdp file), which skips the auto-detection: the log then has no
"Loading Dynamic Virtual Channel rdpgfx". gfx=True is /gfx: the pipeline
without H.264. Which codec is used is the server's choice.

NLA: both versions print "Failed to initialize digest md4 ... NTLM support
not available" at start-up; it is harmless: winpr loads OpenSSL's legacy
provider itself once it initialises SSL (winpr_InitializeSSL), and NTLM then
works without any OPENSSL_CONF.

Exit codes (both versions, EXIT_CODES): 132 authentication failed (NLA),
143 TLS connection failed (certificate refused), 145 connection cancelled
(e.g. no password to give), 147 transport failed (the server hung up).
"""

import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

from PIL import Image

from vgtest import diff_images, fail

CLIENTS = {2: "xfreerdp", 3: "xfreerdp3"}

# xfreerdp's and xfreerdp3's exit codes (client/X11/xfreerdp.h), the ones
# tests meet; 0-35 are the server's disconnect reasons.
EXIT_CODES = {
    0: "SUCCESS", 1: "DISCONNECT", 2: "LOGOFF", 3: "IDLE_TIMEOUT", 4: "LOGON_TIMEOUT",
    5: "CONN_REPLACED", 7: "CONN_DENIED", 9: "USER_PRIVILEGES", 11: "DISCONNECT_BY_USER",
    128: "PARSE_ARGUMENTS", 131: "CONN_FAILED", 132: "AUTH_FAILURE", 133: "NEGO_FAILURE",
    134: "LOGON_FAILURE", 141: "CONNECT_FAILED", 143: "TLS_CONNECT_FAILED",
    145: "CONNECT_CANCELLED", 147: "CONNECT_TRANSPORT_FAILED",
}


def _png(display):
    """The whole X screen as a PIL RGB image (ImageMagick's import)."""
    p = subprocess.run(["import", "-display", display, "-window", "root", "png:-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        fail("import -display %s failed (%d): %s" % (display, p.returncode,
                                                      p.stderr.decode(errors="replace").strip()))
    import io
    img = Image.open(io.BytesIO(p.stdout))
    img.load()
    return img.convert("RGB")


class Xvfb:
    """A virtual X server, stopped on exit.

    Xvfb picks a free display itself and reports it on a pipe once it
    accepts connections (-displayfd): no race with other tests choosing a
    display, no polling for the socket. -noreset keeps the root window
    (xsetroot) when the last client leaves."""

    def __init__(self, width=1280, height=1024, depth=24, timeout=20):
        self.size = (width, height)
        self.depth = depth
        self.timeout = timeout
        self.proc = None
        self.errf = None
        self.display = None

    def __enter__(self):
        rfd, wfd = os.pipe()
        # Its messages go to a file, read only if it fails to start (a pipe
        # nobody reads could stall or, once closed, kill it).
        self.errf = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(wfd), "-screen", "0",
                 "%dx%dx%d" % (self.size[0], self.size[1], self.depth),
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(wfd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.errf)
            os.close(wfd)
            wfd = None
            deadline = time.monotonic() + self.timeout
            got = b""
            while not got.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([rfd], [], [], left)[0]:
                    self.stop()
                    fail("Xvfb did not report a display within %ss" % self.timeout)
                chunk = os.read(rfd, 16)
                if not chunk:
                    self.stop()
                    self.errf.seek(0)
                    fail("Xvfb exited before it was ready: %s" %
                         self.errf.read().decode(errors="replace")[-500:])
                got += chunk
            self.display = ":" + got.decode().strip()
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(rfd)
            if wfd is not None:
                os.close(wfd)
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.errf:
            self.errf.close()
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env(self, **extra):
        return dict(os.environ, DISPLAY=self.display, **extra)

    def screenshot(self):
        """The whole screen as a PIL RGB image."""
        return _png(self.display)


def _display_of(x):
    return x.display if isinstance(x, Xvfb) else x


class XFreeRDP:
    """xfreerdp (version=2) or xfreerdp3 (version=3) on an X display.

    display: an Xvfb or ":N". host, port: the server. user, password: the
    credentials (password=None: none given; the client's prompt reads EOF).
    sec: "tls", "nla", "rdp" or None (negotiate). gfx: False (no graphics
    pipeline), True (/gfx: the pipeline without H.264), or the option string
    for /gfx:... ("AVC420", "RFX"; FreeRDP 3 also "progressive",
    "AVC420:off,RFX:on", ...). size: (w, h) of the session. pcb, pcid:
    preconnection blob / id (/pcb:, /pcid:; both versions then send a V2
    PDU, see rdpwire.pcb_bytes). ca: CA certificate file to verify the
    server against (None: /cert:ignore); cert_name: the name to match in its
    certificate. domain: /d:. log_level: FreeRDP's /log-level. extra: more
    arguments, appended as given. workdir: where the log (and the .rdp file,
    FreeRDP's config dir as XDG_CONFIG_HOME) go;
    a new temporary directory by default, removed on a clean exit and kept
    (path printed) when the block raised.

    Attributes: argv (what runs), args (the FreeRDP arguments, password
    masked), cert_mode ("verify" or "ignore"), log_path, proc, window.
    """

    def __init__(self, display, host, port, user, password, version=3, sec="tls", gfx=False,
                 size=(1024, 768), pcb=None, pcid=None, ca=None, cert_name=None, domain=None,
                 log_level="INFO", extra=(), workdir=None):
        if version not in CLIENTS:
            raise ValueError("version must be 2 or 3")
        self.display = _display_of(display)
        self.version = version
        self.size = tuple(size)
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="vgrdp-client-")
        os.chmod(self.workdir, 0o700)
        self.log_path = os.path.join(self.workdir, "%s.log" % CLIENTS[version])
        self.proc = None
        self.window = None          # (id, x, y, w, h) once wait_window found it
        self.cert_mode = "verify" if ca else "ignore"

        hostport = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        args = ["/v:" + hostport, "/u:" + user]
        if domain is not None:
            args.append("/d:" + domain)
        args.append("/size:%dx%d" % self.size)
        if sec:
            args.append("/sec:" + sec)
        if gfx is True:
            args.append("/gfx")
        elif gfx:
            args.append("/gfx:" + gfx)
        else:
            # Without /gfx, /rfx, /bpp or /network both versions apply
            # "network auto-detect", which turns the graphics pipeline on;
            # naming the depth keeps it off.
            args.append("/bpp:32")
        if pcb is not None:
            args.append("/pcb:" + pcb)
        if pcid is not None:
            args.append("/pcid:%d" % pcid)
        if ca:
            certdir = os.path.join(self.workdir, "no-system-cas")
            os.makedirs(certdir, exist_ok=True)
            args.append("/cert:deny" + (",name:" + cert_name if cert_name else ""))
        else:
            args.append("/cert:ignore")
        # No clipboard and no sound: audio mode 2 asks the server not to play
        # any. (FreeRDP 3 still opens rdpdr and rdpsnd, with its "fake"
        # sound backend, as it always does when heartbeats are on.)
        args += ["-clipboard", "/audio-mode:2", "/log-level:" + log_level]
        args += list(extra)

        # Its own HOME and config dir: no known_hosts or settings of the
        # user running the tests, and nothing left behind.
        env = dict(os.environ, DISPLAY=self.display, HOME=self.workdir,
                   XDG_CONFIG_HOME=os.path.join(self.workdir, "config"))
        for k in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            env.pop(k, None)
        if ca:
            env.update(SSL_CERT_FILE=os.path.abspath(ca), SSL_CERT_DIR=certdir)

        args_data = None
        if version == 3:
            # The whole command line from a pipe: argv is "xfreerdp3
            # /args-from:fd:N", nothing on disk. One argument per line; an
            # empty line would end the list. Not stdin: FreeRDP closes the
            # stream after reading, and a later prompt would then read
            # whatever reuses descriptor 0 (an eventfd: it blocks forever).
            if password is not None:
                args.append("/p:" + password)
            if any("\n" in a or not a for a in args):
                raise ValueError("xfreerdp3 /args-from: no empty arguments or newlines")
            args_data = ("\n".join(args) + "\n").encode()
            argv = [CLIENTS[3], "/args-from:fd:%d"]      # the pipe's number, at start()
        else:
            # FreeRDP 2 has no /args-from; it reads "password:s:" from an
            # .rdp file given first (the command line overrides the rest).
            # With an .rdp file FreeRDP 2 applies "connection type
            # auto-detect" (graphics pipeline and H.264 on) unless the file
            # names a type: LAN (6) leaves the pipeline to /gfx.
            rdp = os.path.join(self.workdir, "session.rdp")
            fd = os.open(rdp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("connection type:i:6\r\n")
                if password is not None:
                    if "\n" in password or "\r" in password:
                        raise ValueError("password with a line break")
                    f.write("password:s:%s\r\n" % password)
            argv = [CLIENTS[2], rdp] + args
        # FreeRDP logs to stdout through stdio: line-buffer it, so that
        # log_text() shows what happened so far, not what fitted a buffer.
        self.argv = ["stdbuf", "-oL", "-eL"] + argv
        self.args = [a if not a.startswith("/p:") else "/p:***" for a in args]
        self.env = env
        self.args_data = args_data

    # -- lifetime ----------------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None and self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif exc_type is not None:
            print("  %s log kept: %s" % (CLIENTS[self.version], self.log_path),
                  file=sys.stderr, flush=True)
        return False

    def start(self):
        logf = open(self.log_path, "ab")
        rfd = None
        argv = self.argv
        try:
            if self.args_data is not None:
                rfd, wfd = os.pipe()
                try:
                    os.write(wfd, self.args_data)     # far below a pipe's buffer
                finally:
                    os.close(wfd)
                argv = [a % rfd if a.startswith("/args-from:fd:") else a for a in argv]
            # A new session: no controlling terminal, so FreeRDP can never
            # stop to prompt on a developer's tty.
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                pass_fds=(rfd,) if rfd is not None else ())
        finally:
            logf.close()
            if rfd is not None:
                os.close(rfd)
        return self

    def stop(self):
        """Terminate the client (SIGTERM, then SIGKILL after 10 s) and delete
        the .rdp file holding the password; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._forget_password()
        return self.proc.returncode if self.proc else None

    def _forget_password(self):
        try:
            os.unlink(os.path.join(self.workdir, "session.rdp"))
        except OSError:
            pass

    # -- observing -----------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=20):
        return "".join(self.log_text().splitlines(True)[-n:])

    def wait_exit(self, timeout):
        """The exit code (see EXIT_CODES), or None if the client is still
        running after `timeout` seconds."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._forget_password()
        return rc

    def _windows(self):
        p = subprocess.run(["xwininfo", "-display", self.display, "-root", "-tree"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           timeout=30)
        rx = re.compile(r"^\s*(0x[0-9a-f]+)\s.*\s(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)\s*$",
                        re.M)
        return [(m.group(1), int(m.group(4)), int(m.group(5)), int(m.group(2)), int(m.group(3)))
                for m in rx.finditer(p.stdout)]

    def _viewable(self, wid):
        p = subprocess.run(["xwininfo", "-display", self.display, "-id", wid],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           timeout=30)
        return "Map State: IsViewable" in p.stdout

    def wait_window(self, w, h, deadline):
        """Wait (until time.monotonic() reaches `deadline`) for a mapped w x h
        window on the display: the client's session window. Returns its
        absolute (x, y). Fails at once if the client exits first.
        Assumes one client per display."""
        while True:
            for wid, x, y, ww, hh in self._windows():
                if (ww, hh) == (w, h) and self._viewable(wid):
                    self.window = (wid, x, y, w, h)
                    self._forget_password()     # read long ago: it is connected
                    return x, y
            if self.proc.poll() is not None:
                fail("%s exited (%d) before a %dx%d window appeared; log:\n%s" % (
                    CLIENTS[self.version], self.proc.returncode, w, h, self.log_tail()))
            if time.monotonic() >= deadline:
                fail("no %dx%d %s window appeared; log:\n%s" % (
                    w, h, CLIENTS[self.version], self.log_tail()))
            time.sleep(0.2)

    def screenshot_window(self):
        """The session window's area of the screen as a PIL RGB image."""
        if self.window is None:
            fail("screenshot_window before wait_window found the window")
        _, x, y, w, h = self.window
        return _png(self.display).crop((x, y, x + w, y + h))

    def wait_screenshot(self, pred, deadline, interval=0.3):
        """Window screenshots until pred(img) is true; returns that image.
        Fails with the last image's size and the log tail at the deadline or
        when the client exits."""
        while True:
            img = self.screenshot_window()
            if pred(img):
                return img
            exited = self.proc.poll() is not None
            if exited or time.monotonic() >= deadline:
                path = os.path.join(self.workdir, "last-window.png")
                img.save(path)
                why = ("exited (%d) while waiting for its window to show the expected picture"
                       % self.proc.returncode if exited else
                       "window did not show the expected picture in time")
                fail("%s %s; last screenshot %s: %s; log:\n%s" % (
                    CLIENTS[self.version], why, path, describe(img), self.log_tail()))
            time.sleep(interval)


def describe(img, n=4):
    """"WxH, colours: (r, g, b) x count, ..." with the n most common."""
    cols = img.getcolors(maxcolors=1 << 16)
    if cols is None:
        return "%dx%d, more than 65536 colours" % img.size
    cols.sort(reverse=True)
    return "%dx%d, %d colours: %s" % (img.size + (len(cols), ", ".join(
        "%s x %d" % (c, k) for k, c in cols[:n])))


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


def run_until_shown(x, argv, env, want, log_path, screen_path, what, timeout):
    """Run the client @argv on the Xvfb @x until its window shows @want
    (an image of the VM) pixel for pixel somewhere on the screen; fail,
    keeping the screen in @screen_path and the client's output from
    @log_path, when @timeout seconds pass or the client exits first. The
    client is stopped at the end either way."""
    with open(log_path, "w") as log:
        client = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            screen = x.screenshot()
            at = locate(screen, want)
            n = -1
            if at:
                area = screen.crop((at[0], at[1], at[0] + want.width, at[1] + want.height))
                n, _ = diff_images(area, want)
                if n == 0:
                    return
            if client.poll() is not None or time.monotonic() > deadline:
                screen.save(screen_path)
                with open(log_path) as f:
                    tail = f.read()[-1200:]
                fail("%s does not show the VM (found at %s, %d pixels differ; exit %s); "
                     "screen kept in %s; log: %s" % (what, at, n, client.poll(), screen_path, tail))
            time.sleep(0.3)
    finally:
        client.terminate()
        try:
            client.wait(timeout=10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
