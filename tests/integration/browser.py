"""Debian's Chromium, headless, driven through chromedriver (python3-selenium),
trusting a test CA the way a user's browser would: the CA in the NSS
database of the browser's own home directory. Needs /usr/bin/python3 with
python3-selenium, and the chromium, chromium-driver and libnss3-tools
packages (scripts/deps installs them)."""

import base64
import io
import os
import subprocess
import time

from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from vgtest import fail

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Browser:
    """One headless Chromium with a profile and home under `root`."""

    def __init__(self, root, ca, name="browser"):
        self.root = os.path.join(root, name)
        self.home = os.path.join(self.root, "home")
        nssdb = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(nssdb, exist_ok=True)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-N", "--empty-password"], check=True)
        subprocess.run(["certutil", "-d", "sql:" + nssdb, "-A", "-t", "C,,", "-n", "vmgate test CA",
                        "-i", ca], check=True)
        opts = Options()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                  "--user-data-dir=" + os.path.join(self.root, "profile"),
                  "--no-first-run", "--disable-background-networking"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        env = dict(os.environ, HOME=self.home)
        self.service = Service(CHROMEDRIVER, env=env,
                               log_path=os.path.join(self.root, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=self.service, options=opts)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.shots = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.driver.quit()
        except WebDriverException:
            pass
        return False

    def get(self, url):
        self.driver.get(url)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, what, cond, timeout=30):
        """Wait until cond() is truthy (and return it); fail with a screenshot."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = cond()
            except WebDriverException:
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                path = self.screenshot("timeout")
                fail("browser: %s not within %ss (page %s, screenshot %s, console: %s)" %
                     (what, timeout, self.driver.current_url, path, self.console_log()[-5:]))
            time.sleep(0.1)

    def screenshot(self, label):
        self.shots += 1
        path = os.path.join(self.root, "%02d-%s.png" % (self.shots, label))
        self.driver.save_screenshot(path)
        return path

    def console_log(self):
        try:
            return [e["message"] for e in self.driver.get_log("browser")]
        except WebDriverException:
            return []

    def login(self, base, user, password):
        self.get(base + "/login")
        self.find("#user").send_keys(user)
        self.find("#password").send_keys(password)
        self.find("#submit").click()

    def canvas_image(self):
        """The console's canvas as the page has drawn it (a PIL RGB image)."""
        url = self.js("const c = document.querySelector('#screen canvas');"
                      "return c && c.width > 0 ? c.toDataURL('image/png') : null;")
        if not url:
            return None
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
