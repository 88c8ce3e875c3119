"""What can be checked of deploy/ on machines without a container engine: the compose file parses and names only
pinned images, the image's entry point is the `minqing` command the tests run, the systemd units pass
`systemd-analyze verify`, and the log rotation rotates."""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PINNED = re.compile(r"^[\w./-]+(:(?!latest$)[\w.-]*\d[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def tool(name: str) -> str:
    """The path of a system tool; a skip when it is absent here, a failure under CI (which installs it)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have {name} (.ci/run installs it)")
        pytest.skip(f"{name} is not installed here")
    return path


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_compose_file_parses_and_names_only_pinned_images():
    services = compose()["services"]
    assert {"bot", "gateway", "postgres"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert ":" in image or "@sha256:" in image, f"{name}: {image} has no version"
        assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
        assert not image.endswith(":latest")
    assert services["gateway"]["image"].startswith("wechaty/wechaty:")
    assert services["postgres"]["profiles"] == ["postgres"]
    # the bot's image is the one built from this version
    assert services["bot"]["image"] == f"minqing-relay:{project()['project']['version']}"
    assert services["bot"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_puppet_is_chosen_by_an_environment_variable_and_the_token_is_shared():
    services = compose()["services"]
    gateway, bot = services["gateway"]["environment"], services["bot"]["environment"]
    assert gateway["WECHATY_PUPPET"].startswith("${WECHATY_PUPPET:?")
    assert gateway["WECHATY_TOKEN"].startswith("${WECHATY_PUPPET_SERVICE_TOKEN")
    assert bot["WECHATY_PUPPET_SERVICE_TOKEN"].startswith("${WECHATY_PUPPET_SERVICE_TOKEN")
    assert bot["WECHATY_PUPPET_SERVICE_ENDPOINT"] == "gateway:" + gateway["WECHATY_PUPPET_SERVER_PORT"]
    assert gateway["WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER"] == "true"  # python-wechaty speaks plaintext
    assert "ports" not in services["gateway"]  # the gateway is not published outside
    assert any(v.endswith(":/data") for v in services["bot"]["volumes"])


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_image_runs_the_minqing_console_script_as_a_user_with_its_data_on_a_volume():
    steps = dockerfile()
    base = [rest for word, rest in steps if word == "FROM"]
    assert base and all(re.match(r"python:3\.12(\.\d+)?-slim", b) and PINNED.match(b) for b in base)
    entry = json.loads(next(rest for word, rest in steps if word == "ENTRYPOINT"))
    cmd = json.loads(next(rest for word, rest in steps if word == "CMD"))
    # the entry point is the console script pyproject.toml installs, whose function the tests call
    scripts = project()["project"]["scripts"]
    assert entry == ["minqing"] and scripts["minqing"] == "bot.cli:main"
    from bot.cli import main
    from tests.bot.cli_helpers import main as tested

    assert tested is main
    assert cmd == ["run"]
    from bot.cli import COMMANDS

    assert "run" in dict(COMMANDS)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "VOLUME" and "/data" in rest for word, rest in steps)
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "MINQING_CONFIG=/data/config.toml" in env
    # every package the image copies is a package pyproject.toml installs
    copied = {rest.split()[0] for word, rest in steps if word == "COPY"}
    assert {"bot", "routing", "storage", "templates"} <= copied


def test_the_console_script_installed_here_answers_like_the_tests():
    exe = Path(sys.executable).with_name("minqing")
    if not exe.exists():
        pytest.skip("the project is not installed in this Python's environment")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("minqing-relay")


def units(tmp_path: Path) -> list[Path]:
    """The units, with the program's path pointed at this environment's `minqing` (verify checks it exists)."""
    exe = Path(sys.executable).with_name("minqing")
    if not exe.exists():
        pytest.skip("the project is not installed in this Python's environment")
    out = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        target = tmp_path / unit.name
        target.write_text(unit.read_text(encoding="utf-8").replace("/opt/minqing/.venv/bin/minqing", str(exe)),
                          encoding="utf-8")
        out.append(target)
    return out


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze")
    files = units(tmp_path)
    assert {f.name for f in files} == {"minqing.service", "minqing-backup.service", "minqing-backup.timer"}
    done = subprocess.run([analyze, "verify", *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "minqing" not in done.stderr, done.stderr  # no warning about our units


def test_the_backup_timer_runs_minqing_backup_daily_with_retention():
    service = (DEPLOY / "systemd" / "minqing-backup.service").read_text(encoding="utf-8")
    timer = (DEPLOY / "systemd" / "minqing-backup.timer").read_text(encoding="utf-8")
    exec_start = re.search(r"^ExecStart=(.+)$", service, re.M).group(1).split()
    assert exec_start[1:3] == ["backup", "/var/lib/minqing/backups"] and "--keep" in exec_start
    assert re.search(r"^OnCalendar=\*-\*-\* \d\d:\d\d:00$", timer, re.M) and "Persistent=true" in timer
    from bot.cli import COMMANDS

    assert "backup" in dict(COMMANDS)


def test_the_log_rotation_rotates(tmp_path):
    logrotate = tool("logrotate")
    logs = tmp_path / "log"
    logs.mkdir()
    log = logs / "minqing.log"
    log.write_text("一行日志\n" * 100, encoding="utf-8")
    conf = (DEPLOY / "logrotate" / "minqing").read_text(encoding="utf-8")
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    conf = conf.replace("/var/log/minqing/", f"{logs}/").replace("su minqing minqing", f"su {user} {group}")
    (tmp_path / "minqing.conf").write_text(conf, encoding="utf-8")
    done = subprocess.run([logrotate, "--force", "--state", str(tmp_path / "state"), str(tmp_path / "minqing.conf")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rotated = [p for p in logs.iterdir() if p.name.startswith("minqing.log-")]
    assert len(rotated) == 1 and rotated[0].read_text(encoding="utf-8").count("一行日志") == 100
    assert log.exists() and log.stat().st_size == 0  # copytruncate: the bot keeps writing to the same file
