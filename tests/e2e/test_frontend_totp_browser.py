"""Two-factor authentication on the example site, in a real headless
Chromium (the stack of `test_frontend_browser.py`: its own authnzrv and the
site binary from `$AUTHNZ_FRONTEND`).

sign up and verify -> log in -> account page: enable TOTP with the
password -> the page shows the secret, the otpauth URI and an inline SVG QR
code -> confirm with a code (computed with pyotp from the secret shown) ->
ten recovery codes -> log out -> log in: the password alone leads to the
code form, a wrong code is refused there, the right one reaches the
account page.
"""

from __future__ import annotations

import time

import pyotp

from test_frontend_browser import EMAIL, PASSWORD, _mail_link, stack  # noqa: F401


def test_totp_in_chromium(stack):  # noqa: F811
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site, basedir, browser, driver_path = stack
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    d.set_page_load_timeout(30)

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
        element.click()
        WebDriverWait(d, 20).until(replaced(element))
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
        d.get(site + "/signup")
        fill({"full_name": "Browser User", "email": EMAIL, "password": PASSWORD})
        d.get(_mail_link(basedir, 1, "/verify"))
        click(d.find_element(By.ID, "verify"))
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/account", d.current_url
        assert "Two-factor authentication" in text(), text()

        # Enable: a wrong password is refused, the right one shows the secret.
        fill({"totp-enroll-password": PASSWORD + "x"}, button="totp-enable")
        assert "could not verify your password" in text(), text()
        fill({"totp-enroll-password": PASSWORD}, button="totp-enable")
        secret = d.find_element(By.ID, "totp-secret").text.strip()
        uri = d.find_element(By.ID, "totp-uri").text.strip()
        assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri, uri
        assert d.find_elements(By.CSS_SELECTOR, "#totp-qr svg"), d.page_source[:2000]
        totp = pyotp.TOTP(secret)
        fill({"totp-confirm-code": totp.now()}, button="totp-confirm")
        codes = [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        assert len(codes) == 10 and len(set(codes)) == 10, text()

        # Log out and in: the password leads to the code form only.
        click(d.find_element(By.ID, "logout"))
        d.get(site + "/login")
        fill({"email": EMAIL, "password": PASSWORD})
        assert d.current_url == site + "/login", d.current_url
        assert d.find_elements(By.ID, "code"), text()
        d.get(site + "/account")
        assert d.current_url == site + "/login", "the password alone signed in"

        # The ticket is still good: back to the code form with the password.
        fill({"email": EMAIL, "password": PASSWORD})
        # A code accepted once is not accepted again: take the next step's.
        good = totp.at(time.time() + 30)
        wrong = "000000" if good != "000000" else "111111"
        fill({"code": wrong}, button="submit-code")
        assert "didn't work" in text(), text()
        assert d.find_elements(By.ID, "code"), text()
        fill({"code": good}, button="submit-code")
        assert d.current_url == site + "/account", (d.current_url, text())
        assert d.find_element(By.ID, "account-email").text == EMAIL
    finally:
        d.quit()
