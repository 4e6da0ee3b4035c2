"""The web front end with a real browser (Debian's Chromium, headless) and the
real guest: alice logs in, sees her VM with a live thumbnail, opens its
console (noVNC from the novnc package), the canvas equals vmgate-shot's
screenshot of the same VM, and what she types reaches the guest; bob, an
observer, sees alice's VM but his typing never arrives; a wrong password is
refused and audited; a kick ends the page's console with the reason shown.
Tickets are single-use and bound to their session; the WebSocket needs this
site's origin and a session; malformed HTTP, oversized headers and absurd
WebSocket frame lengths are refused without harm. Run with /usr/bin/python3."""

import http.client
import json
import os
import random
import re
import socket
import ssl
import struct
import time
import urllib.parse

import websocket
from PIL import Image

import test_metrics
from bridge import free_port
from browser import Browser
from test_vnc import Gateway
from vgtest import Guest, assert_images_equal, fail, run_tests


def base(gw):
    return "https://127.0.0.1:%d" % gw.d.web_port


class Client:
    """A scripted browser session over HTTPS (http.client), with its cookie."""

    def __init__(self, gw):
        self.gw = gw
        self.ctx = ssl.create_default_context(cafile=gw.ca)
        self.cookie = None
        self.csrf = None

    def request(self, method, path, fields=None, headers=None, origin=True):
        h = dict(headers or {})
        if origin:
            h["Origin"] = base(self.gw)
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.csrf:
            h.setdefault("X-CSRF-Token", self.csrf)
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c = http.client.HTTPSConnection("127.0.0.1", self.gw.d.web_port, context=self.ctx,
                                        timeout=30)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def login(self, user, password):
        r, data = self.request("POST", "/api/login", {"user": user, "password": password},
                               headers={"X-Requested-With": "test"})
        if r.status != 200:
            return r.status, data
        cookie = r.getheader("Set-Cookie")
        self.cookie = cookie.split(";", 1)[0]
        self.csrf = json.loads(data)["csrf"]
        return r.status, data

    def ticket(self, vm):
        r, data = self.request("POST", "/api/ticket", {"vm": vm})
        if r.status != 200:
            fail("ticket for %s: %d %s" % (vm, r.status, data))
        return json.loads(data)["ticket"]

    def websocket(self, origin=None, cookie=True):
        h = []
        if cookie and self.cookie:
            h.append("Cookie: " + self.cookie)
        return websocket.create_connection(
            "wss://127.0.0.1:%d/ws/console" % self.gw.d.web_port,
            sslopt={"ca_certs": self.gw.ca}, header=h,
            origin=origin if origin is not None else base(self.gw), timeout=30)


def audit_records(gw):
    with open(gw.d.audit) as f:
        return [json.loads(l) for l in f if l.strip()]


def wait_for(what, cond, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("%s not within %ss" % (what, timeout))
        time.sleep(0.1)


def open_console(b, gw, vm):
    b.get(base(gw) + "/console?vm=" + urllib.parse.quote(vm))
    b.wait("the console connected",
           lambda: b.js("return document.body.dataset.state") == "connected", timeout=60)
    return b.wait("the canvas drawn", lambda: b.canvas_image())


# Shifted punctuation as a user types it on a US keyboard: Shift, then the
# key. (chromedriver sends ">" as one key event with no Shift press; with
# QEMU's key events the guest then gets the bare key, "<" on the 102nd key.)
US_SHIFTED = {">": ".", "<": ",", "|": "\\", "_": "-", ":": ";", '"': "'", "?": "/"}


def type_in_page(b, text):
    """Keys as a user types them, into the focused console canvas."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    b.find("#screen canvas").click()
    chain = ActionChains(b.driver)
    for ch in text:
        if ch in US_SHIFTED:
            chain.key_down(Keys.SHIFT).send_keys(US_SHIFTED[ch]).key_up(Keys.SHIFT)
        else:
            chain.send_keys(ch)
    chain.perform()


def test_alice_logs_in_picks_her_vm_and_works_in_its_console():
    mport = free_port()
    with Guest() as g1, Guest() as g2, \
            Gateway(g1, g2, "[metrics]\nenabled = true\nport = %d\n" % mport) as gw, \
            Browser(gw.root, gw.ca, "alice") as b:
        g1.wait_ready()
        # A wrong password: refused on the page, and audited.
        b.login(base(gw), "alice", "not-her-password")
        b.wait("the refusal shown", lambda: b.find("#error").text == "Authentication failed")
        b.screenshot("refused")
        wait_for("the failed web login in the audit log", lambda: any(
            r.get("event") == "login_failed" and r.get("user") == "alice" and
            r.get("method") == "web" for r in audit_records(gw)))

        b.login(base(gw), "alice", gw.pw["alice"])
        b.wait("the picker", lambda: b.driver.current_url.endswith("/vms"))
        item = b.wait("alice's VM listed", lambda: b.finds("li[data-vm='%s']" % g1.name))
        if b.finds("li[data-vm='%s']" % g2.name):
            fail("alice's picker lists bob's VM")
        meta = item[0].find_element("css selector", ".meta").text
        if "running" not in meta or "owner" not in meta:
            fail("picker says %r for alice's VM" % meta)
        # The thumbnail is the VM's screen, scaled down.
        b.wait("the thumbnail loaded", lambda: b.js(
            "const i = document.querySelector(\"li[data-vm='%s'] img.thumb\");"
            "return i && i.complete && i.naturalWidth > 0;" % g1.name))
        w = b.js("return document.querySelector(\"li[data-vm='%s'] img.thumb\").naturalWidth"
                 % g1.name)
        if not 0 < w <= 320:
            fail("thumbnail width %r" % w)
        b.screenshot("picker")
        # It is live: the VM's screen changes, and so does the thumbnail.
        thumb_js = ("const i = document.querySelector(\"li[data-vm='%s'] img.thumb\");"
                    "const c = document.createElement('canvas');"
                    "c.width = i.naturalWidth; c.height = i.naturalHeight;"
                    "c.getContext('2d').drawImage(i, 0, 0); return c.toDataURL();" % g1.name)
        before = b.js(thumb_js)
        gw.d.ok("send-keys", g1.name, "echo the thumbnail follows the screen\\n")
        b.wait("the thumbnail refreshed with the new screen", lambda: b.js(thumb_js) != before,
               timeout=30)

        # vmgate-shot's PNG of the still VM (before the console: a second
        # login of alice's would take the console over).
        g1.wait_still()
        out = os.path.join(gw.root, "alice-shot.png")
        rc, err = gw.shot("alice", out, "--wait-stable", "1000", "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot: exit %d: %s" % (rc, err))
        want = Image.open(out).convert("RGB")
        # The console: its canvas equals that PNG.
        b.find("li[data-vm='%s'] a.open" % g1.name).click()
        b.wait("the console connected",
               lambda: b.js("return document.body.dataset.state") == "connected", timeout=60)
        canvas = b.wait("the canvas drawn", lambda: b.canvas_image())
        if canvas.size != want.size or canvas.tobytes() != want.tobytes():
            canvas = b.wait("the canvas showing the still screen",
                            lambda: (lambda c: c if c and c.size == want.size and
                                     c.tobytes() == want.tobytes() else None)(b.canvas_image()),
                            timeout=10)
        assert_images_equal(canvas, want, "the browser's canvas vs vmgate-shot's PNG")
        b.screenshot("console")
        sessions = json.loads(gw.d.ok("session", "list", json_out=True))
        web = [(s["id"], v) for s in sessions for v in s.get("viewers", [])
               if v.get("protocol") == "web"]
        if not web or web[0][1].get("user") != "alice":
            fail("vmgatectl session list shows no web viewer of alice's: %r" % sessions)
        # The metrics count the browser's viewer and what it is sent as the web's.
        test_metrics.wait_for(mport, "the web viewer and its frames", lambda m: (
            test_metrics.value(m, "vmgate_viewers", protocol="web", role="owner") == 1 and
            (test_metrics.value(m, "vmgate_frames_sent_total", protocol="web", codec="rfb")
             or 0) > 0 and
            (test_metrics.value(m, "vmgate_bytes_sent_total", protocol="web", codec="rfb")
             or 0) > 0))

        # Typing in the page reaches the guest.
        off = g1.serial_offset()
        token = "web%08x" % random.getrandbits(32)
        type_in_page(b, "echo %s > /dev/ttyS0\n" % token)
        g1.wait_serial("^%s$" % token, timeout=30, since=off)
        # The Ctrl+Alt+Del button reaches the guest: its init reboots it.
        off = g1.serial_offset()
        b.find("#cad").click()
        g1.wait_serial("^VMGATE-GUEST-READY$", timeout=90, since=off)

        # A kick ends the console, and the page says why.
        gw.d.ok("session", "kick", web[0][0], "--reason", "maintenance window")
        b.wait("the kick shown", lambda: "maintenance window" in b.find("#status").text)
        if b.js("return document.body.dataset.state") != "ended":
            fail("the page does not show the console as ended")
        b.screenshot("kicked")
        wait_for("the web viewer's logout audited", lambda: any(
            r.get("event") == "logout" and r.get("protocol") == "web" for r in
            audit_records(gw)))

        # A takeover (alice again, over VNC) ends it too, saying so.
        open_console(b, gw, g1.name)
        rc, err = gw.shot("alice", out, "--timeout", "60")
        if rc != 0:
            fail("vmgate-shot: exit %d: %s" % (rc, err))
        b.wait("the takeover shown",
               lambda: "signed in to this VM again" in b.find("#status").text)
        b.screenshot("taken-over")


def test_an_observer_sees_alices_vm_but_cannot_type():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw, \
            Browser(gw.root, gw.ca, "bob") as b:
        g1.wait_ready()
        b.login(base(gw), "bob", gw.pw["bob"])
        item = b.wait("alice's VM in bob's picker",
                      lambda: b.finds("li[data-vm='%s']" % g1.name))
        if "observer" not in item[0].find_element("css selector", ".meta").text:
            fail("bob is not shown as vm1's observer")
        open_console(b, gw, g1.name)
        still = g1.wait_still()
        b.wait("the observer's canvas showing vm1",
               lambda: (lambda c: c is not None and c.tobytes() == still.tobytes())(
                   b.canvas_image()))
        off = g1.serial_offset()
        bob_token = "ob%08x" % random.getrandbits(32)
        type_in_page(b, "echo %s > /dev/ttyS0\n" % bob_token)
        # alice types after him over VNC: her line arrives, his never did.
        alice_token = "ow%08x" % random.getrandbits(32)
        rc, err = gw.shot("alice", os.path.join(gw.root, "alice.png"),
                          "--type", "echo %s > /dev/ttyS0\\n" % alice_token, "--timeout", "60")
        if rc != 0:
            fail("alice typing over VNC: exit %d: %s" % (rc, err))
        g1.wait_serial("^%s$" % alice_token, timeout=30, since=off)
        lines, _ = g1.serial_lines(off)
        if any(bob_token in l for l in lines):
            fail("the observer's typing in the browser reached the guest")
        b.screenshot("observer")
        # The VM is powered off: the page says so.
        g1.dom.destroy()
        b.wait("the VM's end shown", lambda: "the VM was powered off" in b.find("#status").text)
        b.screenshot("vm-stopped")


def rfb_greeting(ws):
    """The first RFB bytes the console sends after its ticket."""
    ws.settimeout(30)
    op, data = ws.recv_data()
    if op != websocket.ABNF.OPCODE_BINARY or data != b"RFB 003.008\n":
        fail("expected the RFB greeting, got %r %r" % (op, data[:40]))


def closed_with(ws, code):
    """Wait for the server's close frame; fail unless it has @code."""
    ws.settimeout(15)
    try:
        while True:
            op, data = ws.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                got = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                if got != code:
                    fail("closed with %r (%r), expected %d" % (got, data[2:], code))
                return data[2:].decode()
            if op == websocket.ABNF.OPCODE_BINARY:
                fail("RFB bytes before the ticket was accepted: %r" % data[:40])
    except websocket.WebSocketConnectionClosedException:
        fail("the connection closed without a close frame (expected %d)" % code)


def test_tickets_are_single_use_and_bound_to_their_session():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw:
        g1.wait_ready()
        alice, bob = Client(gw), Client(gw)
        if alice.login("alice", gw.pw["alice"])[0] != 200 or \
                bob.login("bob", gw.pw["bob"])[0] != 200:
            fail("the logins failed")
        # A ticket works once.
        t = alice.ticket(g1.name)
        ws = alice.websocket()
        ws.send(t)
        rfb_greeting(ws)
        ws.close()
        ws = alice.websocket()
        ws.send(t)
        closed_with(ws, 4003)
        # A ticket stolen by another session is refused, and burnt.
        t = alice.ticket(g1.name)
        ws = bob.websocket()
        ws.send(t)
        closed_with(ws, 4003)
        ws = alice.websocket()
        ws.send(t)
        closed_with(ws, 4003)
        # No session, or another site's page: no WebSocket at all.
        for what, kw in (("without a session", {"cookie": False}),
                         ("from another origin", {"origin": "https://evil.example"})):
            try:
                alice.websocket(**kw).close()
                fail("a WebSocket was opened %s" % what)
            except websocket.WebSocketBadStatusException as e:
                if e.status_code != 403:
                    fail("%s: status %d, not 403" % (what, e.status_code))
        # No ticket in time.
        ws = alice.websocket()
        closed_with(ws, 4001)
        # POSTs from another site or without the CSRF token are refused.
        r, _ = alice.request("POST", "/api/ticket", {"vm": g1.name},
                             headers={"X-CSRF-Token": "0" * 64})
        if r.status != 403:
            fail("a ticket without the CSRF token: %d" % r.status)
        r, _ = alice.request("POST", "/api/ticket", {"vm": g1.name}, origin=False)
        if r.status != 403:
            fail("a ticket without an Origin: %d" % r.status)
        # A VM that is not hers: the console is refused with the broker's reason.
        t = alice.ticket(g2.name)
        ws = alice.websocket()
        ws.send(t)
        reason = closed_with(ws, 4002)
        if "may not" not in reason:
            fail("refusal reason %r" % reason)
        # After logout the cookie is worth nothing.
        r, _ = alice.request("POST", "/api/logout", {})
        if r.status != 200:
            fail("logout: %d" % r.status)
        r, _ = alice.request("GET", "/api/vms")
        if r.status != 401:
            fail("the API after logout: %d" % r.status)
        recs = audit_records(gw)
        if not any(r.get("event") == "signed_out" and r.get("user") == "alice" for r in recs):
            fail("the logout is not in the audit log")


def raw_tls(gw):
    ctx = ssl.create_default_context(cafile=gw.ca)
    s = socket.create_connection(("127.0.0.1", gw.d.web_port), timeout=15)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def read_until_closed(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionError, ssl.SSLError, socket.timeout):
        pass
    return data


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_hostile_http_and_websocket_input_is_refused():
    with Guest() as g1, Guest() as g2, Gateway(g1, g2) as gw:
        g1.wait_ready()
        pid = gw.d.proc.pid
        # Malformed request lines and headers: an error, and the end.
        for junk in (b"\x16\x03garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Content-Length: 60\r\n\r\nuser=",
                     b"POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"ffffffffffffffff\r\n"):
            s = raw_tls(gw)
            s.sendall(junk)
            reply = read_until_closed(s)
            s.close()
            if reply and not re.match(rb"HTTP/1\.[01] [45]\d\d ", reply):
                fail("%r answered %r" % (junk, reply[:60]))
        # Oversized headers: refused or cut off long before they are all read.
        s = raw_tls(gw)
        s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        try:
            while sent < 64 << 20:
                s.sendall(b"X-Filler: " + b"a" * 8000 + b"\r\n")
                sent += 8012
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass
        s.close()
        if sent >= 64 << 20:
            fail("64 MiB of headers were taken")
        # A body larger than any page sends: vmgated keeps none of it and
        # cuts the connection off.
        rss = vm_rss_kib(pid)
        s = raw_tls(gw)
        s.sendall(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        sent = 0
        try:
            while sent < 64 << 20:
                s.sendall(b"u" * 65536)
                sent += 65536
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass
        s.close()
        if sent >= 64 << 20:
            fail("64 MiB of a body were taken from a client not logged in")
        if vm_rss_kib(pid) - rss > 16 * 1024:
            fail("vmgated grew by %d KiB taking a refused body" % (vm_rss_kib(pid) - rss))
        # WebSocket frames with absurd lengths end that connection at once
        # (libsoup drops it), before any of the payload is taken.
        c = Client(gw)
        c.login("alice", gw.pw["alice"])
        for length in (1 << 62, 10 << 20):
            ws = c.websocket()
            ws.sock.sendall(bytes([0x82, 0xFF]) + struct.pack("!Q", length) + b"\0\0\0\0")
            t0 = time.monotonic()
            ws.sock.settimeout(10)
            try:
                while ws.sock.recv(4096):
                    pass
            except (ConnectionError, ssl.SSLError):
                pass
            except socket.timeout:
                fail("a frame of %d bytes announced: the connection stayed open" % length)
            if time.monotonic() - t0 > 5:
                fail("a frame of %d bytes announced: closed only after %.1f s" %
                     (length, time.monotonic() - t0))
            ws.close()
        # The gateway is alive and serves a login as before.
        if Client(gw).login("alice", gw.pw["alice"])[0] != 200:
            fail("no login after the hostile input")
        if gw.d.proc.poll() is not None:
            fail("vmgated died")


if __name__ == "__main__":
    run_tests([test_alice_logs_in_picks_her_vm_and_works_in_its_console,
               test_an_observer_sees_alices_vm_but_cannot_type,
               test_tickets_are_single_use_and_bound_to_their_session,
               test_hostile_http_and_websocket_input_is_refused])
