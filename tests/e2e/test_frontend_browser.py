"""The example site (`authnz-example-frontend`) in a real headless Chromium.

Its own authnzrv (a fresh autosetup basedir, file mailer) and the site
binary from `$AUTHNZ_FRONTEND` (`cargo xtask test` builds it and sets it),
then Debian's `chromium` driven through `chromedriver` with Selenium:

sign up -> read the verification mail from `<basedir>/mail-outbox/` ->
open its link and verify -> log in -> the account page -> create an API key
and call `GET /api/whoami` with it -> change the password -> a form posted
without its CSRF token is refused -> log out -> log in with the new
password and revoke the key (the key then gets 401) -> forgot password: the reset
link from the second mail sets a new password, which logs in -> "My
sessions" lists this browser and a second sign-in (made with `requests`),
and "Sign out everywhere else" ends the second one.

Without chromium or chromedriver the test skips, printing the install
command; with AUTHNZ_REQUIRE_SERVICES=1 it fails instead.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import _binary, _stop, free_port, run_autosetup, start_server

INSTALL = "apt-get install -y chromium chromium-driver"
PASSWORD = "violet-Lantern-orbit-73"
NEW_PASSWORD = "copper-Meadow-harbor-58"
EMAIL = "browser-user@example.org"


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    why = f"chromium or chromedriver is missing; install them with `{INSTALL}`"
    if os.environ.get("AUTHNZ_REQUIRE_SERVICES") == "1":
        pytest.fail(why + " (AUTHNZ_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(why)


def _frontend_binary() -> Path:
    value = os.environ.get("AUTHNZ_FRONTEND")
    if not value or not os.access(value, os.X_OK):
        pytest.fail(
            "AUTHNZ_FRONTEND is not an executable: point it at a built "
            "authnz-example-frontend (`cargo xtask test` does this for you)",
            pytrace=False,
        )
    return Path(value)


@pytest.fixture
def stack():
    """authnzrv and the example site in front of it; yields (site URL,
    authnz basedir)."""
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: the browser test needs its own server")
    browser, driver = _chromium()
    frontend = _frontend_binary()
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-browser-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    assert result.returncode == 0, result.stderr
    server = start_server(binary, basedir, tmp / "authnzrv.log")
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    log = tmp / "frontend.log"
    env = dict(os.environ)
    env.update(
        AUTHNZ_URL=server.url,
        AUTHNZ_SECRET=str(basedir / ".authnzerver-secret-key"),
        FRONTEND_LISTEN=f"127.0.0.1:{port}",
    )
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(frontend)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(site + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield site, basedir, browser, driver
    finally:
        _stop(proc)
        _stop(server.proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _mail_link(basedir: Path, count: int, path: str) -> str:
    """The link to `path` in the newest mail; the outbox holds `count`."""
    mails = sorted((basedir / "mail-outbox").glob("*.eml"))
    assert len(mails) == count, mails
    msg = email.message_from_bytes(mails[-1].read_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"http://\S+" + re.escape(path) + r"\?token=[A-Za-z0-9_.-]+", text)
    assert links, text
    return links[0]


def test_the_example_site_in_chromium(stack):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    site, basedir, browser, driver_path = stack
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    d.set_page_load_timeout(30)

    def replaced(element):
        """A wait condition: `element`'s page has been replaced. Chromium
        reports a node of an unloaded page either as stale or, while the
        next page loads, as not belonging to the document."""

        def check(_):
            try:
                element.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise

        return check

    def click(element):
        """Click and wait until the next page has replaced this one."""
        element.click()
        WebDriverWait(d, 20).until(replaced(element))
        loaded()

    def loaded():
        WebDriverWait(d, 20).until(
            lambda _: d.execute_script("return document.readyState") == "complete"
        )

    def fill(fields: dict, button: str = "submit"):
        for name, value in fields.items():
            el = d.find_element(By.ID, name)
            el.clear()
            el.send_keys(value)
        click(d.find_element(By.ID, button))

    def text() -> str:
        return d.find_element(By.TAG_NAME, "body").text

    try:
        # Sign up.
        d.get(site + "/signup")
        fill({"full_name": "Browser User", "email": EMAIL, "password": PASSWORD})
        assert "We sent a verification link" in text(), text()

        # The verification link from the mail.
        link = _mail_link(basedir, 1, "/verify")
        assert link.startswith(site + "/verify?token="), link
        d.get(link)
        click(d.find_element(By.ID, "verify"))
        assert d.current_url.startswith(site + "/login"), d.current_url
        assert "is verified" in text(), text()

        # Log in: the account page.
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/account", d.current_url
        assert d.find_element(By.ID, "account-email").text == EMAIL
        assert d.find_element(By.ID, "account-role").text == "authenticated"
        cookies = {c["name"]: c for c in d.get_cookies()}
        session = cookies["authnz_session"]
        assert session["httpOnly"] is True and session["sameSite"] == "Lax", session

        # The cookie session's /api/whoami.
        d.get(site + "/api/whoami")
        assert f'"email":"{EMAIL}"' in d.page_source.replace(" ", ""), d.page_source

        # An API key, and /api/whoami with it (no cookie).
        d.get(site + "/apikeys")
        click(d.find_element(By.ID, "create-key"))
        key = d.find_element(By.ID, "new-key").text.strip()
        assert len(key) > 40
        r = requests.get(site + "/api/whoami", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200, r.text
        who = r.json()
        assert who["user_role"] == "authenticated" and who["email"] == EMAIL, who
        assert isinstance(who["user_id"], int)
        bad = requests.get(
            site + "/api/whoami", headers={"Authorization": f"Bearer {key[:-4]}AAAA"}, timeout=10
        )
        assert bad.status_code == 401, bad.text
        anon = requests.get(site + "/api/whoami", timeout=10).json()
        assert anon["user_role"] == "anonymous" and anon["email"] is None, anon

        # Change the password.
        d.get(site + "/account")
        fill(
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            button="change",
        )
        assert d.current_url == site + "/account?m=password", d.current_url
        assert "Your password is changed" in text(), text()

        # A form posted without its CSRF token is refused, and nothing happens.
        body = d.find_element(By.TAG_NAME, "body")
        d.execute_script(
            "const f = document.querySelector('form[action=\"/logout\"]');"
            "f.querySelector('input[name=\"_csrf\"]').remove(); f.submit();"
        )
        WebDriverWait(d, 20).until(replaced(body))
        loaded()
        assert "403 Forbidden" in text() and "CSRF token" in text(), text()
        d.get(site + "/account")
        assert d.current_url == site + "/account", "the refused logout logged out"

        # Log out: the account page now sends the browser to the login page.
        click(d.find_element(By.ID, "logout"))
        assert "You are logged out" in text(), text()
        d.get(site + "/account")
        assert d.current_url == site + "/login", d.current_url

        # The old password no longer works; the new one does. Revoke the key.
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/login", d.current_url
        fill({"email": EMAIL, "password": NEW_PASSWORD})
        assert d.current_url == site + "/account", d.current_url
        d.get(site + "/apikeys")
        click(d.find_element(By.CSS_SELECTOR, "button.revoke"))
        assert "The API key is revoked" in text(), text()
        r = requests.get(site + "/api/whoami", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 401, r.text

        # Forgot the password: the reset link from the mail sets a new one.
        click(d.find_element(By.ID, "logout"))
        d.get(site + "/forgot")
        fill({"email": EMAIL})
        assert "we sent it a password reset link" in text(), text()
        link = _mail_link(basedir, 2, "/reset")
        assert link.startswith(site + "/reset?token="), link
        d.get(link)
        fill({"new_password": PASSWORD})
        assert d.current_url == site + "/login?m=reset", d.current_url
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/account", d.current_url

        # My sessions: a second sign-in elsewhere is listed, then signed out.
        other = requests.Session()
        page = other.get(site + "/login", timeout=10).text
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
        r = other.post(
            site + "/login",
            data={"email": EMAIL, "password": PASSWORD, "_csrf": csrf},
            timeout=10,
        )
        assert r.url == site + "/account", r.url
        assert other.get(site + "/api/whoami", timeout=10).json()["email"] == EMAIL
        d.get(site + "/sessions")
        rows = d.find_elements(By.CSS_SELECTOR, "#sessions tr.session")
        assert len(rows) == 2, text()
        assert len(d.find_elements(By.CSS_SELECTOR, "#sessions td.current")) == 1, text()
        assert "python-requests" in text(), text()
        click(d.find_element(By.ID, "revoke-others"))
        assert "Your other sessions are signed out" in text(), text()
        assert len(d.find_elements(By.CSS_SELECTOR, "#sessions tr.session")) == 1, text()
        assert "python-requests" not in text(), text()
        who = other.get(site + "/api/whoami", timeout=10).json()
        assert who["user_role"] == "anonymous" and who["email"] is None, who
        d.get(site + "/account")
        assert d.current_url == site + "/account", "this browser stays signed in"

        # A forged or altered link is refused.
        d.get(link[:-3] + "xyz")
        fill({"new_password": NEW_PASSWORD})
        assert "invalid or has expired" in text(), text()
    finally:
        d.quit()
