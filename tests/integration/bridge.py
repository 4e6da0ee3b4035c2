"""Helpers for integration tests of vmgate's own programs: vmgate-shot and
the bridge-monitor harness (vmm-bridge's registry against the real libvirtd).
"""

import os
import queue
import re
import subprocess
import threading
import time

from vgtest import URI, fail

BUILD = os.environ.get("VMGATE_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build")
SHOT = os.path.join(BUILD, "bin", "vmgate-shot")
MONITOR = os.path.join(BUILD, "tests", "bridge-monitor")


def shot(*args, timeout=120):
    """Run vmgate-shot; returns (exit code, stderr)."""
    p = subprocess.run([SHOT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr


def shot_libvirt(domain, output, *args, timeout=120):
    return shot("--libvirt", URI, "--domain", domain, "--output", output, *args,
                timeout=timeout)


class Monitor:
    """bridge-monitor running in the background; lines are collected by a
    reader thread so a test can wait for a pattern with a deadline."""

    def __init__(self, uri=URI):
        env = dict(os.environ)
        self.proc = subprocess.Popen([MONITOR, uri], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        self.lines = queue.Queue()
        self.seen = []
        self.err = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    @staticmethod
    def _read(stream, q):
        for line in stream:
            q.put((time.monotonic(), line.rstrip("\n")))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.rstrip("\n"))

    def expect(self, pattern, timeout=30):
        """Wait for a line matching pattern (re.search) and return (time, match).
        Lines already seen are searched first."""
        rx = re.compile(pattern)
        for i, (t, line) in enumerate(self.seen):
            m = rx.search(line)
            if m:
                del self.seen[:i + 1]
                return t, m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("bridge-monitor: no line matching %r within %ss; got %r; stderr tail %r" %
                     (pattern, timeout, [l for _, l in self.seen][-15:], self.err[-10:]))
            try:
                t, line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    fail("bridge-monitor exited (%s); stderr tail %r" %
                         (self.proc.returncode, self.err[-10:]))
                continue
            m = rx.search(line)
            if m:
                return t, m
            self.seen.append((t, line))

    def forget(self):
        """Drop lines seen so far (so expect() only matches new ones)."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        self.seen.clear()

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


VMGATED = os.path.join(BUILD, "bin", "vmgated")
VMGATECTL = os.path.join(BUILD, "bin", "vmgatectl")


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """vmgated in the foreground with its own state directory, admin socket
    and audit log under `root`, against the real libvirtd."""

    def __init__(self, root, extra="", rdp=""):
        self.root = root
        self.rdp_extra = rdp
        self.state = os.path.join(root, "state")
        self.socket = os.path.join(root, "admin.sock")
        self.audit = os.path.join(root, "audit.log")
        self.config = os.path.join(root, "vmgated.conf")
        self.log = os.path.join(root, "vmgated.log")
        self.proc = None
        self.preexec = None  # run in the child before vmgated (e.g. to set a limit)
        self.vnc_port = free_port()
        self.rdp_port = free_port()
        self.web_port = free_port()
        self.write_config(extra)

    def write_config(self, extra=None):
        """Write the configuration; @extra None keeps the last one's extra lines."""
        if extra is None:
            extra = getattr(self, "extra", "")
        self.extra = extra
        with open(self.config, "w") as f:
            f.write("[libvirt]\nuri = %s\n\n[daemon]\nstate_dir = %s\nadmin_socket = %s\n"
                    "audit_log = %s\nlog_level = info\n\n"
                    "[vnc]\nlisten = 127.0.0.1\nport = %d\n\n"
                    "[web]\nlisten = 127.0.0.1\nport = %d\n\n"
                    "[rdp]\nlisten = 127.0.0.1\nport = %d\n%s\n%s" %
                    (URI, self.state, self.socket, self.audit, self.vnc_port, self.web_port,
                     self.rdp_port, self.rdp_extra, extra))

    def start(self, timeout=30):
        """Start vmgated and return once it has started: its admin socket
        answers and it has logged "started:", which it does once its front
        ends listen (the admin socket comes up before them)."""
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        log_from = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([VMGATED, "--config", self.config, "--foreground"],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                fail("vmgated exited with %d; log: %s" % (self.proc.returncode, self.log_tail()))
            rc, _, _ = self.ctl("user", "list")
            if rc == 0 and self._logged_since(log_from, " started: libvirt "):
                return self
            if time.monotonic() > deadline:
                fail("vmgated did not answer on %s within %ss; log: %s" %
                     (self.socket, timeout, self.log_tail()))
            time.sleep(0.05)

    def wait_vm(self, name, timeout=60):
        """Wait until the daemon's VM registry knows @name (it learns VMs from
        libvirt asynchronously after start)."""
        import json
        deadline = time.monotonic() + timeout
        while True:
            rc, out, _ = self.ctl("vm", "list", json_out=True)
            if rc == 0 and any(v.get("name") == name for v in json.loads(out)):
                return
            if time.monotonic() > deadline:
                fail("vmgated does not list VM %s after %ss" % (name, timeout))
            time.sleep(0.1)

    def _logged_since(self, offset, text):
        with open(self.log, "rb") as f:
            f.seek(offset)
            return text.encode() in f.read()

    def log_tail(self, n=15):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ctl(self, *args, input=None, json_out=False, user=None, timeout=60):
        cmd = [VMGATECTL, "--socket", self.socket] + (["--json"] if json_out else []) + list(args)
        if user:
            cmd = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups"] + cmd
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.ctl(*args, **kw)
        if rc != 0:
            fail("vmgatectl %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
        return out

    def stop(self, sig=15, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("vmgated did not stop within %ss after signal %d" % (timeout, sig))
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            return False
        # A clean stop, so that a sanitizer build reports leaks at exit too;
        # then no sanitizer may have reported anything.
        rc = self.stop()
        self.check_sanitizer_reports()
        if rc not in (0, None):
            fail("vmgated exited with status %d when stopped; log: %s" % (rc, self.log_tail()))
        return False

    SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak|Thread)Sanitizer|runtime error: |"
                                  r"WARNING: ThreadSanitizer")

    def check_sanitizer_reports(self):
        """Fail when vmgated's log holds an AddressSanitizer, LeakSanitizer,
        ThreadSanitizer or UndefinedBehaviorSanitizer report (only sanitizer
        builds make them)."""
        try:
            with open(self.log, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return
        for i, line in enumerate(lines):
            if self.SANITIZER_REPORT.search(line):
                fail("sanitizer report in vmgated's log %s:\n%s" %
                     (self.log, "".join(lines[i:i + 40])))
