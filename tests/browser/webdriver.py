"""webdriver.py - a W3C WebDriver client over plain HTTP (standard library
only), driving Debian's /usr/bin/chromium through /usr/bin/chromedriver.

    with Browser() as b:
        b.get("http://127.0.0.1:8080/#/tasks")
        b.wait(lambda: b.js("return document.title") == "mtq", "the title")
        b.find("#tasks tr[data-id]").click()

Every wait is bounded (Timeout names what did not happen); nothing sleeps
a fixed time except the 0.1 s between two looks at the page.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference

# Flags that work here as root, headless: without the background-networking
# ones Chromium keeps opening connections a closed network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
    "--force-device-scale-factor=1", "--lang=en-US",
]


class Timeout(AssertionError):
    pass


class WebDriverError(RuntimeError):
    pass


def ref(value, css):
    """The element reference in a find's answer."""
    if not isinstance(value, dict) or ELEMENT not in value:
        raise WebDriverError("find %s: %r" % (css, value))
    return value[ELEMENT]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, browser, ref):
        self.b, self.ref = browser, ref

    def _path(self, tail=""):
        return "/element/%s%s" % (self.ref, tail)

    @property
    def text(self):
        return self.b.cmd("GET", self._path("/text"))

    def attr(self, name):
        return self.b.cmd("GET", self._path("/attribute/" + name))

    def click(self):
        self.b.cmd("POST", self._path("/click"), {})

    def clear(self):
        self.b.cmd("POST", self._path("/clear"), {})

    def type(self, text):
        self.b.cmd("POST", self._path("/value"), {"text": text})

    def find(self, css):
        return Element(self.b, ref(self.b.cmd("POST", self._path("/element"),
                                              {"using": "css selector", "value": css}), css))

    def find_all(self, css):
        found = self.b.cmd("POST", self._path("/elements"), {"using": "css selector", "value": css})
        return [Element(self.b, e[ELEMENT]) for e in found]


class Browser:
    """A chromedriver process, one Chromium session in a fresh profile."""

    def __init__(self, width=1400, height=900, chromium="/usr/bin/chromium",
                 chromedriver="/usr/bin/chromedriver", log_path=None):
        self.width, self.height = width, height
        self.chromium, self.chromedriver = chromium, chromedriver
        self.log_path = log_path
        self.proc = self.session = self.profile = None

    # --- the session -------------------------------------------------------------

    def __enter__(self):
        for exe in (self.chromium, self.chromedriver):
            if not os.access(exe, os.X_OK):
                raise WebDriverError("%s is missing (Debian packages chromium, chromium-driver)" % exe)
        self.port = free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([self.chromedriver, "--port=%d" % self.port],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._http("GET", "/status")["value"].get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise WebDriverError("chromedriver did not start in 20 s")
            time.sleep(0.1)
        self.profile = tempfile.mkdtemp(prefix="mtq-chromium-")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": CHROMIUM_ARGS + ["--user-data-dir=" + self.profile,
                                         "--window-size=%d,%d" % (self.width, self.height)]},
            "goog:loggingPrefs": {"browser": "ALL"},
            "unhandledPromptBehavior": "ignore",
            "timeouts": {"pageLoad": 30000, "script": 10000},
        }}}
        self.session = self._http("POST", "/session", caps)["value"]["sessionId"]
        return self

    def __exit__(self, *exc):
        try:
            if self.session:
                self._http("DELETE", "/session/" + self.session, timeout=15)
        except (OSError, WebDriverError):
            pass
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)

    def _http(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
                msg = "%s: %s" % (v.get("error"), (v.get("message") or "").split("\n")[0])
            except ValueError:
                msg = str(e)
            raise WebDriverError("%s %s: %s" % (method, path, msg)) from None

    def cmd(self, method, path, body=None):
        return self._http(method, "/session/%s%s" % (self.session, path), body)["value"]

    # --- pages and elements ----------------------------------------------------------

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return Element(self, ref(self.cmd("POST", "/element", {"using": "css selector", "value": css}), css))

    def find_all(self, css):
        found = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in found]

    def accept_alert(self):
        self.cmd("POST", "/alert/accept", {})

    def wait(self, cond, what, timeout=15):
        """Polls cond() until it returns something true; returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = cond()
                if v:
                    return v
            except WebDriverError as e:
                last = e
            if time.monotonic() > deadline:
                raise Timeout("gave up after %g s waiting for %s%s" %
                              (timeout, what, " (last error: %s)" % last if last else ""))
            time.sleep(0.1)

    def console(self):
        """The browser's console since the last call (chromedriver's log)."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return []

    def screenshot(self, path, full=True):
        """A PNG of the page; full: the window stretched to the page's height
        first (a W3C screenshot is of the viewport), up to 2400 px."""
        if full:
            # The window's height includes what headless Chromium keeps for
            # its (invisible) frame: outerHeight - innerHeight.
            h, frame = self.js("return [Math.ceil(document.documentElement.scrollHeight),"
                               " window.outerHeight - window.innerHeight]")
            self.cmd("POST", "/window/rect", {"width": self.width,
                                             "height": max(self.height, min(int(h) + int(frame), 2400))})
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        if full:
            self.cmd("POST", "/window/rect", {"width": self.width, "height": self.height})
        return path
