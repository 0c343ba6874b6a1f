"""The site in a real browser: the whole ASGI application (pages, static files, WebSockets)
served by uvicorn in a thread of the test process, on the test database, and Debian's headless
Chromium driven by Playwright. Every page a journey opens is watched for console errors and
Content-Security-Policy violations; `Browser.check_accessibility` runs axe-core (from the npm
registry, installed by scripts/setup) and `Browser.screenshot` keeps phone and desktop
screenshots under var/artifacts/screenshots (ARTIFACTS_DIR moves them)."""

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from django.conf import settings as django_settings
from playwright.sync_api import Page, sync_playwright
from pytest_django import Settings

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
# Bangkok's city hall, near centre 1: what "near me" reports in the journeys.
CITY_HALL = {"latitude": 13.7525, "longitude": 100.5016}


def artifacts_dir() -> Path:
    base = Path(os.environ.get("ARTIFACTS_DIR", django_settings.VAR_DIR / "artifacts"))
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def site(transactional_db: None, reference_data: None, settings: Settings) -> Iterator[str]:
    """The base URL of the whole site, served for this test only."""
    settings.WHITENOISE_USE_FINDERS = True  # the static files as they are in the checkout
    settings.WHITENOISE_AUTOREFRESH = True
    from config.asgi import build_application

    server = uvicorn.Server(
        uvicorn.Config(
            build_application(),
            host="127.0.0.1",
            port=free_port(),
            log_level="warning",
            lifespan="off",
            ws_max_size=settings.VIDEO_MAX_MESSAGE_BYTES,  # as the Procfile serves it
        )
    )
    thread = threading.Thread(target=server.run, name="site", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # a ceiling for a loaded machine, not a wait
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("The test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Browser:
    """One browser tab, with what it has seen go wrong."""

    page: Page
    base: str
    test_name: str
    problems: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")

    def screenshot(self, name: str) -> None:
        """Keep this page as it looks on a phone and on a desktop."""
        page = self.page
        before = page.viewport_size or PHONE
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            shot = artifacts_dir() / f"{self.test_name}-{name}-{label}.png"
            page.screenshot(path=shot, full_page=True)
        page.set_viewport_size(before)

    def check_accessibility(self) -> None:
        """Fail on axe-core's serious or critical violations (WCAG 2.2 A and AA, and its best
        practices) on the page as it is now, once it has loaded."""
        self.page.wait_for_load_state("load")
        found: list[dict[str, Any]] = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {
                    runOnly: {
                        type: "tag",
                        values: [
                            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                            "best-practice",
                        ],
                    },
                    resultTypes: ["violations"],
                });
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    where: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
                }));
            }"""
        )
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        assert not serious, f"axe-core on {self.page.url}: {serious}"


def _drive(
    base: str, test_name: str, journey: Callable[[Browser], T], options: dict[str, Any]
) -> T:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/setup (it installs axe-core with npm ci)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            context = chromium.new_context(viewport=PHONE, has_touch=True, **options)
            # An init script is added by the DevTools protocol, so the page's CSP lets it run;
            # the page's own scripts stay under the CSP.
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            browser = Browser(page=page, base=base, test_name=test_name)

            def on_response(response: Any) -> None:
                # A page may answer 4xx (a form error is not a fault); what it loads may not.
                if response.request.resource_type != "document" and response.status >= 400:
                    browser.problems.append(f"{response.url} answered {response.status}")

            def on_console(message: Any) -> None:
                if message.type != "error":
                    return
                if "Failed to load resource" in message.text:
                    return  # the response handler above has judged it
                browser.problems.append(f"{page.url}: {message.text}")

            page.on("response", on_response)
            page.on("console", on_console)
            page.on("pageerror", lambda error: browser.problems.append(f"{page.url}: {error}"))
            result = journey(browser)
            assert not browser.problems, f"The browser reported errors: {browser.problems}"
            return result
        finally:
            chromium.close()


@pytest.fixture
def in_browser(site: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a journey (a function of a Browser) in headless Chromium at phone size, in a thread
    of its own: Playwright keeps an event loop in its thread, where the ORM would refuse to
    run. Keyword arguments go to Playwright's new_context (geolocation, permissions, ...)."""
    test_name = request.node.name.replace("[", "-").replace("]", "")

    def run(journey: Callable[[Browser], T], **options: Any) -> T:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(_drive, site, test_name, journey, options).result()

    return run
