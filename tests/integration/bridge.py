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
