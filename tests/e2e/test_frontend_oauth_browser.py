"""Social login on the example site, in a real headless Chromium.

A real OpenID Connect provider on loopback (the npm `oidc-provider`, see
oidc_provider.py), authnzrv with `--oauthproviders` pointing at it, and the
example site offering it (`FRONTEND_OAUTH_PROVIDERS`):

"Log in with testop" on the login page -> the provider's development login
form -> back on the site's callback -> logged in on the account page, a new
account with the identity listed and no password (unlinking it is
refused; an unlink form without its CSRF token is refused too) -> log out
and in again: the same account, not new -> a forged callback (`state`
nobody started), a provider's `error` and an unknown provider each get the
error page and log nobody in -> a local account with a password and a
verified e-mail: the provider's login with that e-mail links to it, and
there the identity can be unlinked.

Without chromium/chromedriver or node/npm the test skips with the install
command; with AUTHNZ_REQUIRE_SERVICES=1 it fails instead.
"""

from __future__ import annotations

import json
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
from helpers import sign_up
from oidc_provider import OidcProvider
from test_frontend_browser import _chromium, _frontend_binary

PROVIDER = "testop"
CLIENT_ID = "authnz-e2e-client"
CLIENT_SECRET = "authnz-e2e-client-secret-0123456789"


@pytest.fixture
def stack():
    """The provider, authnzrv and the example site; yields a dict."""
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: the browser test needs its own server")
    browser, driver = _chromium()
    frontend = _frontend_binary()
    binary = _binary()
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    callback = f"{site}/oauth/{PROVIDER}/callback"
    provider = OidcProvider(CLIENT_ID, CLIENT_SECRET, [callback])
    tmp = Path(tempfile.mkdtemp(prefix="authnz-oauth-browser-"))
    server = proc = None
    try:
        basedir = tmp / "basedir"
        result = run_autosetup(binary, basedir)
        assert result.returncode == 0, result.stderr
        providers = tmp / "oauthproviders.json"
        providers.write_text(
            json.dumps(
                [
                    {
                        "name": PROVIDER,
                        "kind": "oidc",
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "issuer": provider.issuer,
                        "redirect_uris": [callback],
                        "timeout_seconds": 10,
                    }
                ]
            )
        )
        server = start_server(
            binary, basedir, tmp / "authnzrv.log", extra_args=("--oauthproviders", str(providers))
        )
        log = tmp / "frontend.log"
        env = dict(os.environ)
        env.update(
            AUTHNZ_URL=server.url,
            AUTHNZ_SECRET=str(basedir / ".authnzerver-secret-key"),
            FRONTEND_LISTEN=f"127.0.0.1:{port}",
            FRONTEND_BASE_URL=site,
            FRONTEND_OAUTH_PROVIDERS=PROVIDER,
        )
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(frontend)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )
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
        yield {
            "site": site,
            "server": server,
            "browser": browser,
            "driver": driver,
            "issuer": provider.issuer,
        }
    finally:
        if proc is not None:
            _stop(proc)
        if server is not None:
            _stop(server.proc)
        provider.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_social_login_on_the_example_site_in_chromium(stack):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    site, issuer = stack["site"], stack["issuer"]
    options = webdriver.ChromeOptions()
    options.binary_location = stack["browser"]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=stack["driver"]), options=options)
    d.set_page_load_timeout(30)

    def text() -> str:
        return d.find_element(By.TAG_NAME, "body").text

    def loaded():
        WebDriverWait(d, 20).until(
            lambda _: d.execute_script("return document.readyState") == "complete"
        )

    def replaced(element):
        """A wait condition: `element`'s page has been replaced (Chromium
        reports a node of an unloaded page as stale or, while the next page
        loads, as not belonging to the document)."""

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

    def wait_url(prefix: str):
        try:
            WebDriverWait(d, 30).until(lambda _: d.current_url.startswith(prefix))
        except TimeoutException:
            raise AssertionError(f"not at {prefix}: {d.current_url}\n{text()}") from None
        loaded()

    def log_in_with_provider(login: str):
        """From the site's login page through the provider's development
        login form (and its consent page, if it shows one) back to the site."""
        d.get(site + "/login")
        # The provider's own cookies (same host as the site, another
        # port): forget them, so that it asks who logs in.
        for c in d.get_cookies():
            if c["name"] != "authnz_session":
                d.delete_cookie(c["name"])
        button = d.find_element(By.ID, f"oauth-{PROVIDER}")
        assert button.text == f"Log in with {PROVIDER}"
        button.click()
        wait_url(issuer)
        WebDriverWait(d, 30).until(lambda _: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
        loaded()
        d.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(login)
        d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("any-password")
        click(d.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        if not d.current_url.startswith(site):
            # The provider's consent page: allow.
            click(d.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        wait_url(site)

    def account_identities() -> list[str]:
        return [e.text for e in d.find_elements(By.CSS_SELECTOR, "#identities tr.identity td.provider")]

    try:
        person = f"oauth-person-{os.getpid()}@example.org"

        # A new account from the provider's login.
        log_in_with_provider(person)
        assert d.current_url == site + "/account?m=oauthnew", d.current_url
        assert "Your account is new" in text(), text()
        assert d.find_element(By.ID, "account-email").text == person
        assert d.find_element(By.ID, "account-role").text == "authenticated"
        assert account_identities() == [PROVIDER], text()
        assert person in d.find_element(By.ID, "identities").text
        assert d.find_elements(By.ID, "no-password"), text()
        user_id = d.find_element(By.CSS_SELECTOR, "#account dd:nth-of-type(4)").text
        cookie = d.get_cookie("authnz_session")
        assert cookie["httpOnly"] is True, cookie

        # The only way to log in cannot be unlinked.
        click(d.find_element(By.ID, f"unlink-{PROVIDER}"))
        assert "only way to log in" in text(), text()
        assert account_identities() == [PROVIDER], text()

        # An unlink form without its CSRF token is refused.
        d.get(site + "/account")
        body = d.find_element(By.TAG_NAME, "body")
        d.execute_script(
            "const f = document.querySelector('form[action=\"/account/oauth/unlink\"]');"
            "f.querySelector('input[name=\"_csrf\"]').remove(); f.submit();"
        )
        WebDriverWait(d, 20).until(replaced(body))
        loaded()
        assert "403 Forbidden" in text() and "CSRF token" in text(), text()

        # Log out and in again with the provider: the same account.
        d.get(site + "/account")
        click(d.find_element(By.ID, "logout"))
        assert "You are logged out" in text(), text()
        log_in_with_provider(person)
        assert d.current_url == site + "/account?m=oauth", d.current_url
        assert d.find_element(By.CSS_SELECTOR, "#account dd:nth-of-type(4)").text == user_id
        assert d.get_cookie("authnz_session")["value"] != cookie["value"], "the token rotated"
        click(d.find_element(By.ID, "logout"))
        assert "You are logged out" in text(), text()

        # A forged callback, a provider's error, an unknown provider: the
        # error page, and nobody is logged in.
        d.get(site + f"/oauth/{PROVIDER}/callback?code=forged-code&state=forged-state")
        assert "Social login failed" in text(), text()
        assert "unknown or was already used" in text(), text()
        d.get(site + f"/oauth/{PROVIDER}/callback?error=access_denied&state=x")
        assert "Social login failed" in text() and "(access_denied)" in text(), text()
        d.get(site + "/oauth/nosuchprovider/start")
        assert "no login provider of that name" in text(), text()
        d.get(site + "/account")
        assert d.current_url == site + "/login", d.current_url

        # A local account with a password and a verified e-mail: the
        # provider's login with that e-mail links to it; unlinking works.
        local = sign_up(stack["server"].client(), "oauthlink", verify=True)
        log_in_with_provider(local["email"])
        assert d.current_url == site + "/account?m=oauth", d.current_url
        assert d.find_element(By.ID, "account-email").text == local["email"]
        assert d.find_element(By.CSS_SELECTOR, "#account dd:nth-of-type(4)").text == str(
            local["user_id"]
        )
        assert account_identities() == [PROVIDER], text()
        assert not d.find_elements(By.ID, "no-password"), text()
        click(d.find_element(By.ID, f"unlink-{PROVIDER}"))
        assert "The identity is unlinked" in text(), text()
        assert account_identities() == [], text()
        assert d.find_elements(By.ID, "no-identities"), text()
        assert re.search(r"/account\?m=unlinked$", d.current_url), d.current_url
    finally:
        d.quit()
