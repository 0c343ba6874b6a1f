"""What every page shares, in a real browser: Thai first with an English switch that is
remembered, the Content-Security-Policy holding without breaking a page, and staff signing in."""

import pyotp
from django.contrib.auth.models import User


def test_a_page_is_thai_until_the_reader_switches_and_the_choice_is_remembered(in_browser):
    def journey(browser):
        browser.open("/staff/sign-in")
        page = browser.page
        first = page.get_attribute("html", "lang")
        page.get_by_role("link", name="English").click()
        switched = page.get_attribute("html", "lang")
        heading = page.get_by_role("heading", level=1).inner_text()
        browser.open("/staff/sign-in")
        return first, switched, heading, page.get_attribute("html", "lang")

    first, switched, heading, later = in_browser(journey)

    assert (first, switched, later) == ("th", "en", "en")
    assert heading == "Staff sign-in"


def test_staff_sign_in_set_up_their_authenticator_and_land_on_their_centres(in_browser):
    User.objects.create_user(username="nurse9", password="a-long-password-2569", is_staff=True)

    def journey(browser):
        browser.open("/staff/?lang=en")
        page = browser.page
        landed = page.url
        page.get_by_label("User name").fill("nurse9")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        refusal = page.get_by_role("alert").inner_text()
        page.get_by_label("Password").fill("a-long-password-2569")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/staff/sign-in/authenticator")
        browser.check_accessibility()
        browser.screenshot("authenticator")
        key = page.locator("code.key").inner_text().replace(" ", "")
        page.get_by_label("The 6-digit code the app shows now").fill(pyotp.TOTP(key).now())
        page.get_by_role("button", name="Finish and sign in").click()
        page.wait_for_url("**/staff/?lang=en")
        browser.check_accessibility()
        return landed, refusal, page.get_by_role("heading", level=1).inner_text()

    landed, refusal, heading = in_browser(journey)

    assert landed.endswith("/staff/sign-in?next=/staff/%3Flang%3Den")
    assert "correct username and password" in refusal
    assert heading == "My health centres"


def test_the_policy_refuses_an_inline_script(in_browser):
    def journey(browser):
        browser.open("/staff/sign-in")
        violations: list[str] = browser.page.evaluate(
            """() => new Promise((resolve) => {
                const seen = [];
                document.addEventListener(
                    "securitypolicyviolation", (e) => seen.push(e.violatedDirective)
                );
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
                setTimeout(() => resolve(seen), 200);
            })"""
        )
        injected = browser.page.evaluate("() => window.injected === true")
        browser.problems.clear()  # the refusal is reported as a console error, as it should be
        return violations, injected

    violations, injected = in_browser(journey)

    assert injected is False
    assert violations
    assert violations[0].startswith("script-src")
