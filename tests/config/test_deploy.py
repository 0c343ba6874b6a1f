"""Production settings: `manage.py check --deploy` passes with what the README tells
operators to set, and nothing weaker slips through."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    production = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "booking.example.org",
        "PUBLIC_BASE_URL": "https://booking.example.org",
        **env,
    }
    inherited = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "PUBLIC_BASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**inherited, **production},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_check():
    result = check_deploy()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_site_served_over_plain_http_fails_the_check():
    result = check_deploy(PUBLIC_BASE_URL="http://booking.example.org")

    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stdout + result.stderr


def test_the_development_key_fails_the_check():
    result = check_deploy(SECRET_KEY="django-insecure-development-key-set-SECRET_KEY-in-production")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_ci_runs_the_deployment_check_with_production_like_settings_and_it_passes():
    ci = (ROOT / ".ci" / "run").read_text()
    script = ROOT / ".ci" / "check-deploy"

    assert ".ci/check-deploy" in ci
    result = subprocess.run(
        [str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "--deploy --fail-level WARNING" in script.read_text()
