"""Headless Chromium for the pages the project serves: no host but this one, and every page's
console errors, uncaught errors, rejected promises and CSP violations collected for the test.

Any browser test opens pages through `PageWatch.open` and ends with `watch.assert_clean()`;
a page that logs an error, throws, or is refused a resource by its Content-Security-Policy fails.
A test that provokes an error on purpose (an API call that must be refused) says so with
`watch.allow(pattern)`, a regular expression the expected messages match.
"""
import re
import shutil

import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                    reason="needs Debian's chromium and chromium-driver "
                                           "(make test installs them when run as root)")

def waiting(browser, seconds=20):
    """A wait whose conditions may read elements a page is re-rendering meanwhile (a list of
    results replaced as an answer comes): an element gone stale is read again, not a failure."""
    return WebDriverWait(browser, seconds, ignored_exceptions=(StaleElementReferenceException,))


# Runs before any script of every page: keeps what the console would show as an error.
_RECORDER = """
window.__pageProblems = [];
const keep = (kind, text) => window.__pageProblems.push(kind + ": " + text);
window.addEventListener("error", (e) => keep("uncaught error",
    e.message ? e.message + " at " + e.filename + ":" + e.lineno
              : "failed to load " + ((e.target && (e.target.src || e.target.href)) || e.target)), true);
window.addEventListener("unhandledrejection", (e) => keep("unhandled rejection", String(e.reason)));
document.addEventListener("securitypolicyviolation", (e) => keep("CSP violation",
    e.violatedDirective + " blocked " + (e.blockedURI || "inline code") + " at " + e.sourceFile + ":" + e.lineNumber));
const consoleError = console.error.bind(console);
console.error = (...args) => { keep("console.error", args.map(String).join(" ")); consoleError(...args); };
"""


def chromium(profile_dir):
    """A headless Chromium that can reach 127.0.0.1 only: any other host name fails to resolve
    at once (the machine has no network, and a page must not need one)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORDER})
    return driver


class PageWatch:
    """Opens pages in one browser and gathers what went wrong on each of them."""

    def __init__(self, driver):
        self.driver = driver
        self.problems = []
        self.allowed = []

    def allow(self, *patterns):
        """Problems matching any of these regular expressions are expected, not failures."""
        self.allowed.extend(re.compile(p, re.S) for p in patterns)

    def open(self, url):
        self.collect()
        self.driver.get(url)
        return self.driver

    def collect(self):
        """Moves what the current page and the browser log recorded so far into self.problems."""
        driver = self.driver
        try:
            page = driver.execute_script("return window.__pageProblems || []; ") or []
            driver.execute_script("window.__pageProblems = [];")
        except Exception:  # noqa: BLE001 - no page open yet
            page = []
        where = driver.current_url
        found = list(page)
        found += [f"console {e['level']}: {e['message']}" for e in driver.get_log("browser")
                  if e["level"] in ("SEVERE", "ERROR")]
        self.problems += [f"{where}: {p}" for p in found
                          if not any(a.search(p) for a in self.allowed)]
        return self.problems

    def assert_clean(self):
        problems = self.collect()
        assert not problems, "the page reported errors:\n" + "\n".join(problems)
