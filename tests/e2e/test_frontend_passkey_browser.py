"""Passkeys on the example site, in a real headless Chromium with a
WebAuthn virtual authenticator (CTAP2, internal transport, resident keys,
user verification; Selenium 4's `add_virtual_authenticator`, which
chromedriver serves through Chrome's DevTools `WebAuthn` domain).

WebAuthn needs a secure context and a relying-party id that is a host
name, not an IP address: the site is opened at `http://localhost:<port>`,
and authnzrv runs with `--webauthnorigins` set to exactly that origin (its
relying-party id is then `localhost`).

sign up and verify -> log in with the password -> account page: adding a
passkey with a wrong password is refused, with the right one the virtual
authenticator makes a resident credential and the page shows ten recovery
codes -> the passkey is listed (name, added, never used) -> log out ->
"Log in with a passkey": signed in without a password, with a new session
token -> log out -> the password alone leads to the second-factor page,
which offers the passkey -> signed in -> a JSON POST and a delete form
without their CSRF token are refused (403) and change nothing -> deleting
needs the password -> deleted: the password alone logs in again, and the
authenticator's credential no longer does.

Without chromium or chromedriver the test skips, printing the install
command; with AUTHNZ_REQUIRE_SERVICES=1 it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import _binary, _stop, free_port, run_autosetup, start_server
from test_frontend_browser import PASSWORD, _chromium, _frontend_binary, _mail_link

EMAIL = "passkey-user@example.org"


@pytest.fixture
def stack():
    """authnzrv with passkeys for the site's origin, and the example site
    on localhost; yields (site URL, authnz basedir, browser, driver)."""
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: the browser test needs its own server")
    browser, driver = _chromium()
    frontend = _frontend_binary()
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-passkey-browser-"))
    server = proc = None
    try:
        basedir = tmp / "basedir"
        result = run_autosetup(binary, basedir)
        assert result.returncode == 0, result.stderr
        port = free_port()
        site = f"http://localhost:{port}"
        server = start_server(
            binary, basedir, tmp / "authnzrv.log", extra_args=("--webauthnorigins", site)
        )
        log = tmp / "frontend.log"
        env = dict(os.environ)
        env.update(
            AUTHNZ_URL=server.url,
            AUTHNZ_SECRET=str(basedir / ".authnzerver-secret-key"),
            FRONTEND_LISTEN=f"127.0.0.1:{port}",
            FRONTEND_BASE_URL=site,
        )
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(frontend)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield site, basedir, browser, driver
    finally:
        if proc is not None:
            _stop(proc)
        if server is not None:
            _stop(server.proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_passkeys_in_chromium(stack):
    from selenium import webdriver
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
    from selenium.webdriver.support.ui import WebDriverWait

    site, basedir, browser, driver_path = stack
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    d.set_page_load_timeout(30)

    def text() -> str:
        return d.find_element(By.TAG_NAME, "body").text

    def loaded():
        WebDriverWait(d, 20).until(
            lambda _: d.execute_script("return document.readyState") == "complete"
        )

    def replaced(element):
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

    def fill(fields: dict, button: str | None = "submit", wait: bool = True):
        for name, value in fields.items():
            el = d.find_element(By.ID, name)
            el.clear()
            el.send_keys(value)
        if button:
            el = d.find_element(By.ID, button)
            click(el) if wait else el.click()

    def wait_url(url: str):
        """The script navigates when a ceremony ends: wait for it."""
        try:
            WebDriverWait(d, 30).until(lambda _: d.current_url == url)
        except TimeoutException:
            raise AssertionError(f"not at {url}: {d.current_url}\n{text()}") from None
        loaded()

    def passkey_error() -> str:
        """The script's error box, once it says something."""
        try:
            WebDriverWait(d, 30).until(
                lambda _: d.find_element(By.ID, "passkey-error").text.strip()
            )
        except TimeoutException:
            raise AssertionError(f"no passkey error shown\n{text()}") from None
        return d.find_element(By.ID, "passkey-error").text.strip()

    def passkey_rows() -> list[str]:
        return [e.text for e in d.find_elements(By.CSS_SELECTOR, "#passkeys tr.passkey td.passkey-name")]

    def session_token() -> str:
        return d.get_cookie("authnz_session")["value"]

    try:
        # The virtual authenticator: a platform authenticator that keeps
        # resident keys and verifies its user without asking.
        auth_options = VirtualAuthenticatorOptions()
        auth_options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
        auth_options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
        auth_options.has_resident_key = True
        auth_options.has_user_verification = True
        auth_options.is_user_verified = True
        auth_options.is_user_consenting = True
        d.add_virtual_authenticator(auth_options)

        # Sign up, verify, log in with the password.
        d.get(site + "/signup")
        fill({"full_name": "Passkey User", "email": EMAIL, "password": PASSWORD})
        assert "We sent a verification link" in text(), text()
        link = _mail_link(basedir, 1, "/verify")
        assert link.startswith(site + "/verify?token="), link
        d.get(link)
        click(d.find_element(By.ID, "verify"))
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/account", d.current_url
        assert d.find_elements(By.ID, "no-passkeys"), text()
        assert d.execute_script("return window.isSecureContext") is True

        # Adding a passkey needs the password.
        fill({"passkey-name": "Test laptop", "passkey-password": PASSWORD + "x"}, button=None)
        d.find_element(By.ID, "passkey-add").click()
        message = passkey_error()
        assert "password" in message.lower(), message
        assert d.get_credentials() == [], "a refused start made a credential"

        # With the right one: a resident credential, and recovery codes.
        fill({"passkey-password": PASSWORD}, button=None)
        d.find_element(By.ID, "passkey-add").click()
        try:
            WebDriverWait(d, 30).until(
                lambda _: d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")
                or d.find_element(By.ID, "passkey-error").text.strip()
            )
        except TimeoutException:
            raise AssertionError(f"no answer to adding a passkey\n{text()}") from None
        assert not d.find_element(By.ID, "passkey-error").text.strip(), text()
        codes = [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        assert len(codes) == 10 and len(set(codes)) == 10, text()
        assert "Test laptop" in d.find_element(By.ID, "passkey-added").text
        credentials = d.get_credentials()
        assert len(credentials) == 1 and credentials[0].is_resident_credential, credentials
        registered_count = credentials[0].sign_count
        click(d.find_element(By.ID, "passkey-back"))
        assert "Your passkey is added" in text(), text()
        assert passkey_rows() == ["Test laptop"], text()
        row = d.find_element(By.CSS_SELECTOR, "#passkeys tr.passkey")
        passkey_id = row.get_attribute("id").removeprefix("passkey-")
        assert row.find_element(By.CSS_SELECTOR, ".passkey-last-used").text == "never"
        assert row.find_element(By.CSS_SELECTOR, ".passkey-created").text.endswith("UTC")

        # Log out, and in with the passkey alone: a new session token.
        click(d.find_element(By.ID, "logout"))
        assert "You are logged out" in text(), text()
        before = session_token()
        d.find_element(By.ID, "passkey-login").click()
        wait_url(site + "/account")
        assert d.find_element(By.ID, "account-email").text == EMAIL
        assert session_token() != before, "the session token must rotate at login"
        assert d.get_credentials()[0].sign_count > registered_count
        used = d.find_element(By.CSS_SELECTOR, "#passkeys tr.passkey .passkey-last-used").text
        assert used != "never" and used.endswith("UTC"), used

        # Log out; the password alone now leads to the second factor.
        click(d.find_element(By.ID, "logout"))
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/login", d.current_url
        assert "Two-factor authentication" in text(), text()
        assert d.find_elements(By.ID, "code"), "recovery codes are offered too"
        d.get(site + "/account")
        assert d.current_url == site + "/login", "the password alone signed in"
        fill({"email": EMAIL, "password": PASSWORD})
        before = session_token()
        d.find_element(By.ID, "passkey-second").click()
        wait_url(site + "/account")
        assert d.find_element(By.ID, "account-email").text == EMAIL
        assert session_token() != before, "the session token must rotate at login"

        # Without the CSRF token: a JSON POST is refused (403), and so is
        # the delete form; the passkey stays.
        status = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/account/passkeys/register/start', {method: 'POST',"
            " headers: {'Content-Type': 'application/json'},"
            f" body: JSON.stringify({{password: {PASSWORD!r}}})}})"
            ".then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));"
        )
        assert status[0] == 403 and "CSRF" in status[1], status
        body = d.find_element(By.TAG_NAME, "body")
        d.find_element(By.ID, f"passkey-delete-password-{passkey_id}").send_keys(PASSWORD)
        d.execute_script(
            "const f = document.querySelector('form[action=\"/account/passkeys/delete\"]');"
            "f.querySelector('input[name=\"_csrf\"]').remove(); f.submit();"
        )
        WebDriverWait(d, 20).until(replaced(body))
        loaded()
        assert "403 Forbidden" in text() and "CSRF token" in text(), text()
        d.get(site + "/account")
        assert passkey_rows() == ["Test laptop"], text()

        # Deleting needs the password.
        fill({f"passkey-delete-password-{passkey_id}": PASSWORD + "x"}, button=f"passkey-delete-{passkey_id}")
        message = d.find_element(By.ID, "messages").text
        assert "password" in message.lower(), message
        assert passkey_rows() == ["Test laptop"], text()
        fill({f"passkey-delete-password-{passkey_id}": PASSWORD}, button=f"passkey-delete-{passkey_id}")
        assert d.current_url == site + "/account?m=passkeyremoved", d.current_url
        assert "The passkey is deleted" in text(), text()
        assert d.find_elements(By.ID, "no-passkeys"), text()

        # The password alone logs in again; the authenticator's credential
        # no longer does.
        click(d.find_element(By.ID, "logout"))
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/account", (d.current_url, text())
        click(d.find_element(By.ID, "logout"))
        d.find_element(By.ID, "passkey-login").click()
        message = passkey_error()
        assert "didn't work" in message, message
        assert d.current_url.startswith(site + "/login"), d.current_url
        d.get(site + "/account")
        assert d.current_url == site + "/login", f"a deleted passkey signed in ({message})"
    finally:
        d.quit()
