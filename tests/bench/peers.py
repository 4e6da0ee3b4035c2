#!/usr/bin/python3
"""tests/bench/peers.py — the peers vmgate is benchmarked against.

Each peer sits in front of the test VM's own VNC server (QEMU's, reached over
TCP: "testvirt define NAME --vnc-tcp PORT"):

  Xrdp(vnc_host, vnc_port, rdp_port, workdir)
      Debian 12's xrdp (0.9.21, bookworm; not backports) with its VNC module
      (libvnc.so, the "vnc-any" session of the stock xrdp.ini) as the only
      session. A private instance: its own xrdp.ini, log, pid file and TLS
      certificate/key in workdir, listening on 127.0.0.1:rdp_port, run in the
      foreground (xrdp -n) in a process group of its own, fork=true (one child
      per connection, as packaged). Not the system service, and no
      xrdp-sesman: the VNC module connects by itself, sesman is only needed to
      start X servers (Xorg/Xvnc sessions).
      The client logs in with any user name and password (the client must
      send a non-empty user name, e.g. xfreerdp /u:x /p:x, so that xrdp takes
      the auto-logon path and skips its login screen; the password is handed
      to the VNC server only if that asks for one, QEMU's does not).
      Security: TLS only (security_layer=tls, TLS 1.2/1.3). xrdp 0.9 has no
      NLA (CredSSP): clients must not require it (xfreerdp: /sec:tls).
      Limits of this path: xrdp's VNC module speaks RFB 3.3 and asks only for
      Raw and CopyRect (plus cursor and desktop-size pseudo-encodings), at
      32 bpp (depth 24) for a 32 bpp session. To FreeRDP 3 (which does not
      offer the DstBlt/PatBlt/ScrBlt/MemBlt orders) it sends slow-path Bitmap
      Update PDUs, compressed planar at 32 bpp (interleaved RLE at 15-24 bpp);
      no RemoteFX, GFX or H.264 (xrdp 0.9 has no GFX; drdynvc is off here).
      The session has the VNC server's size: a client asking for another
      size is resized to it (QEMU refuses SetDesktopSize).
      xrdp refuses to start while /var/run/xrdp/xrdp.pid exists (a running
      system xrdp): its pid path is compiled in.

  Websockify(vnc_host, vnc_port, ws_port, workdir, tls=False)
      Debian's websockify (0.10.0, python3) on 127.0.0.1:ws_port, plain ws://
      or, with tls=True, wss:// only (--ssl-only) with a certificate/key made
      in workdir. Its log goes to workdir.

Both are context managers: __enter__ starts the peer and returns once its port
accepts connections (or raises PeerError with the tail of its log); __exit__
stops only the processes it started (its own process group). Attributes:
port, version, workdir, pid, log (path).

  install()   apt-get install xrdp and websockify when missing (idempotent).

Standard library only; run with /usr/bin/python3.
"""

import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import time

__all__ = ["PeerError", "install", "Xrdp", "Websockify", "make_cert"]

PACKAGES = ("xrdp", "websockify")
XRDP_SYSTEM_PID = "/var/run/xrdp/xrdp.pid"  # XRDP_PID_PATH, compiled into xrdp
XRDP_VNC_MODULE = "libvnc.so"


class PeerError(RuntimeError):
    pass


def _installed(pkg):
    r = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", pkg],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return r.returncode == 0 and "install ok installed" in r.stdout


def install():
    """Install xrdp and websockify from Debian (the main suite, not
    backports) unless already present. Needs root only when something is
    missing. Returns the list of packages it installed."""
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing:
        return []
    if os.geteuid() != 0:
        raise PeerError("peers: must run as root to install %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        # Stale package lists: refresh once and retry.
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    if r.returncode != 0:
        raise PeerError("peers: %s failed:\n%s" % (" ".join(cmd), r.stdout[-2000:]))
    return missing


def make_cert(workdir, name="peer"):
    """A self-signed RSA certificate and key (PEM) in workdir, made with
    openssl; kept if they exist. Returns (cert, key)."""
    cert = os.path.join(workdir, name + "-cert.pem")
    key = os.path.join(workdir, name + "-key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", key + ".tmp", "-out", cert + ".tmp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if r.returncode != 0:
        raise PeerError("peers: openssl req failed:\n" + r.stdout[-2000:])
    os.chmod(key + ".tmp", 0o600)
    os.replace(key + ".tmp", key)
    os.replace(cert + ".tmp", cert)
    return cert, key


def _tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _port_in_use(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class _Peer:
    """A program run in a process group of its own, with its output and
    its pid in workdir; started by __enter__, stopped by __exit__."""

    name = "peer"
    start_timeout = 15.0

    def __init__(self, port, workdir):
        self.port = int(port)
        if not 0 < self.port < 65536:
            raise ValueError("bad port %r" % port)
        self.workdir = os.path.abspath(workdir)
        self.proc = None
        self.pid = None
        self.log = os.path.join(self.workdir, self.name + ".log")
        self.out = os.path.join(self.workdir, self.name + ".out")
        self.pidfile = os.path.join(self.workdir, self.name + ".pid")

    # subclasses: argv(), prepare()
    def prepare(self):
        pass

    def argv(self):
        raise NotImplementedError

    def start(self):
        if self.proc is not None:
            raise PeerError("%s already started" % self.name)
        os.makedirs(self.workdir, exist_ok=True)
        if _port_in_use(self.port):
            raise PeerError("%s: 127.0.0.1:%d is already in use" % (self.name, self.port))
        self.prepare()
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # its own process group: stop() kills only that
                close_fds=True,
            )
        self.pid = self.proc.pid
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.pid)
        try:
            self._wait_accepts()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_accepts(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise PeerError(
                    "%s exited with status %s before accepting on port %d:\n%s%s"
                    % (self.name, self.proc.returncode, self.port, _tail(self.out), _tail(self.log))
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PeerError(
                    "%s does not accept on 127.0.0.1:%d after %.0f s:\n%s%s"
                    % (self.name, self.port, self.start_timeout, _tail(self.out), _tail(self.log))
                )
            time.sleep(0.05)

    def stop(self, timeout=5.0):
        """SIGTERM to our process group (the program and the children it
        forked per connection), SIGKILL after timeout."""
        p = self.proc
        if p is None:
            return
        pgid = p.pid  # start_new_session: the group is ours, led by p
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p.poll()
            if p.returncode is not None and not self._group_alive(pgid):
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        self.proc = None
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass

    @staticmethod
    def _group_alive(pgid):
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def _xrdp_version():
    r = subprocess.run(["xrdp", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    for line in r.stdout.splitlines():
        w = line.split()
        if len(w) >= 2 and w[0] == "xrdp":
            return w[1]
    raise PeerError("cannot tell xrdp's version: " + r.stdout[:200])


class Xrdp(_Peer):
    """xrdp whose only session is its VNC module connected to
    vnc_host:vnc_port, entered directly with the client's credentials."""

    name = "xrdp"

    def __init__(self, vnc_host, vnc_port, rdp_port, workdir, max_bpp=32, loglevel="INFO"):
        super().__init__(rdp_port, workdir)
        self.vnc_host = vnc_host
        self.vnc_port = int(vnc_port)
        self.max_bpp = int(max_bpp)
        self.loglevel = loglevel
        self.ini = os.path.join(self.workdir, "xrdp.ini")
        self.cert = self.key = None
        self.version = _xrdp_version()

    def config(self):
        """The xrdp.ini text."""
        return f"""\
; written by tests/bench/peers.py; xrdp {self.version}
[Globals]
ini_version=1
fork=true
port=tcp://127.0.0.1:{self.port}
use_vsock=false
tcp_nodelay=true
tcp_keepalive=true
; TLS only. xrdp 0.9 has no NLA (CredSSP).
security_layer=tls
crypt_level=none
certificate={self.cert}
key_file={self.key}
ssl_protocols=TLSv1.2, TLSv1.3
; The client's auto-logon (a non-empty user name in its Info PDU) goes
; straight to this session, without the login screen.
autorun=vnc-any
allow_channels=false
allow_multimon=false
bitmap_cache=true
bitmap_compression=true
bulk_compression=true
max_bpp={self.max_bpp}
new_cursors=true
use_fastpath=both
hidelogwindow=true

[Logging]
LogFile={self.log}
LogLevel={self.loglevel}
EnableSyslog=false
EnableConsole=false

[Channels]
rdpdr=false
rdpsnd=false
drdynvc=false
cliprdr=false
rail=false
xrdpvr=false
tcutils=false

[vnc-any]
name=vnc-any
lib={XRDP_VNC_MODULE}
ip={self.vnc_host}
port={self.vnc_port}
; The VNC module sends the password only when the VNC server asks for one.
username=ask
password=ask
"""

    def prepare(self):
        if os.path.exists(XRDP_SYSTEM_PID):
            raise PeerError(
                "xrdp will not start while %s exists (a system xrdp runs, or a stale file)"
                % XRDP_SYSTEM_PID
            )
        if shutil.which("xrdp") is None:
            raise PeerError("xrdp is not installed (peers.install())")
        self.cert, self.key = make_cert(self.workdir, "xrdp")
        with open(self.ini + ".tmp", "w") as f:
            f.write(self.config())
        os.replace(self.ini + ".tmp", self.ini)

    def argv(self):
        # -n: foreground, so that we own the process; -c: our xrdp.ini
        # (keymaps and rsakeys.ini still come from /etc/xrdp, compiled in).
        return ["xrdp", "--nodaemon", "--config", self.ini]


def _websockify_version():
    try:
        return importlib.metadata.version("websockify")
    except importlib.metadata.PackageNotFoundError:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "websockify"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode != 0 or not r.stdout:
            raise PeerError("websockify is not installed (peers.install())")
        return r.stdout.split("+")[0]


class Websockify(_Peer):
    """websockify on 127.0.0.1:ws_port relaying WebSocket to TCP
    vnc_host:vnc_port (ws://, or wss:// only with tls=True)."""

    name = "websockify"

    def __init__(self, vnc_host, vnc_port, ws_port, workdir, tls=False, verbose=False):
        super().__init__(ws_port, workdir)
        self.vnc_host = vnc_host
        self.vnc_port = int(vnc_port)
        self.tls = bool(tls)
        self.verbose = verbose
        self.cert = self.key = None
        self.version = _websockify_version()
        self.url = "%s://127.0.0.1:%d/" % ("wss" if self.tls else "ws", self.port)

    def prepare(self):
        exe = shutil.which("websockify", path="/usr/bin")
        if exe is None:
            raise PeerError("websockify is not installed (peers.install())")
        self.exe = exe
        if self.tls:
            self.cert, self.key = make_cert(self.workdir, "websockify")

    def argv(self):
        a = [self.exe, "--log-file", self.log]
        if self.verbose:
            a.append("--verbose")
        if self.tls:
            a += ["--cert", self.cert, "--key", self.key, "--ssl-only"]
        a += ["127.0.0.1:%d" % self.port, "%s:%d" % (self.vnc_host, self.vnc_port)]
        return a


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="run a benchmark peer until interrupted")
    ap.add_argument("peer", choices=["install", "xrdp", "websockify"])
    ap.add_argument("--vnc", default="127.0.0.1:5990", help="HOST:PORT of the VNC server")
    ap.add_argument("--port", type=int, default=0, help="listen port (default 3390 / 5991)")
    ap.add_argument("--workdir", default="/tmp/vmgate-peers")
    ap.add_argument("--tls", action="store_true", help="websockify: wss:// only")
    args = ap.parse_args()
    if args.peer == "install":
        print("installed:", " ".join(install()) or "nothing (all present)")
        raise SystemExit(0)
    host, _, vport = args.vnc.rpartition(":")
    if args.peer == "xrdp":
        peer = Xrdp(host, int(vport), args.port or 3390, os.path.join(args.workdir, "xrdp"))
    else:
        peer = Websockify(host, int(vport), args.port or 5991,
                          os.path.join(args.workdir, "websockify"), tls=args.tls)
    with peer:
        print("%s %s on 127.0.0.1:%d (pid %d), log %s" % (peer.name, peer.version, peer.port,
                                                         peer.pid, peer.log), flush=True)
        def on_term(*_):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
