"""Production settings refuse development defaults; the compose file is valid Compose."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROD_KEYS = {
    "SECRET_KEY": "k" * 50,
    "DEPLOYER_PRIVATE_KEY": "0x" + "11" * 32,
    "EXECUTOR_PRIVATE_KEY": "0x" + "22" * 32,
    "RELAYER_PRIVATE_KEY": "0x" + "33" * 32,
    "COUNCIL_RELAY_PRIVATE_KEY": "0x" + "44" * 32,
}


def _django_setup(env_overrides: dict[str, str], tmp_path: Path, then: str = "print('started')",
                  unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`django.setup()` in a fresh interpreter with these environment changes, then the code `then`."""
    env = {k: v for k, v in os.environ.items() if k not in PROD_KEYS and k not in unset}
    env.update({"GOVAPP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "govapp.settings"})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", f"import django; django.setup(); {then}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_production_refuses_dev_defaults(tmp_path):
    result = _django_setup({"DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off" in result.stderr
    for name in PROD_KEYS:
        assert name in result.stderr


@pytest.mark.parametrize("name", sorted(PROD_KEYS))
def test_production_refuses_each_dev_default_alone(tmp_path, name):
    from govapp import settings

    dev = {"SECRET_KEY": settings.DEV_SECRET_KEY, "DEPLOYER_PRIVATE_KEY": settings.DEV_DEPLOYER_KEY,
           "EXECUTOR_PRIVATE_KEY": settings.DEV_EXECUTOR_KEY, "RELAYER_PRIVATE_KEY": settings.DEV_RELAYER_KEY,
           "COUNCIL_RELAY_PRIVATE_KEY": settings.DEV_COUNCIL_RELAY_KEY}
    result = _django_setup({"DEBUG": "false", **PROD_KEYS, name: dev[name]}, tmp_path)
    assert result.returncode != 0
    assert name in result.stderr


def test_production_starts_with_real_secrets(tmp_path):
    result = _django_setup({"DEBUG": "false", **PROD_KEYS}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_compose_file_validates_against_the_compose_spec():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec",
                             str(ROOT / "docker-compose.yml")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_every_service_with_health_conditions():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis", "anvil", "web", "worker", "beat"):
        assert name in services
    for name in ("postgres", "redis", "anvil", "web"):
        assert "healthcheck" in services[name]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(("level", "warns"), [(None, True), ("INFO", True), ("ERROR", False)])
def test_log_level_decides_for_djangos_request_warnings(level, warns, tmp_path):
    """django.request logs a warning for every 4xx: LOG_LEVEL=ERROR must silence it (a vote flood's refusals)."""
    result = _django_setup({"LOG_LEVEL": level} if level else {}, tmp_path, unset=("LOG_LEVEL",), then=(
        "import logging; print(logging.getLogger('django.request').isEnabledFor(logging.WARNING), "
        "logging.getLogger('voting').isEnabledFor(logging.INFO))"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(warns), str(level != "ERROR")]
