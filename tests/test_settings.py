from __future__ import annotations

import stat

import pytest

from taskflow.errors import UserError
from taskflow.settings import load_settings


def test_defaults_put_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url_resolved == f"sqlite:///{tmp_path / 'taskflow.db'}"
    assert settings.timezone == "Asia/Shanghai"


def test_environment_overrides_database_url(monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", "postgresql://postgres@127.0.0.1/x")
    assert load_settings().database_url_resolved == "postgresql://postgres@127.0.0.1/x"


def test_config_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    config = tmp_path / "taskflow.toml"
    config.write_text('timezone = "Asia/Urumqi"\nsmtp_host = "mail.example.org"\n')
    monkeypatch.setenv("TASKFLOW_CONFIG", str(config))
    monkeypatch.setenv("TASKFLOW_SMTP_HOST", "smtp.example.org")
    settings = load_settings()
    assert settings.timezone == "Asia/Urumqi" and settings.smtp_host == "smtp.example.org"


def test_secret_key_is_generated_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    first = load_settings().resolved_secret_key()
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings().resolved_secret_key() == first
    assert len(first) >= 32


@pytest.mark.parametrize("value", ["changethis", "CHANGEME", "secret"])
def test_placeholder_secret_is_refused(monkeypatch, value):
    monkeypatch.setenv("TASKFLOW_SECRET_KEY", value)
    with pytest.raises(UserError, match="占位值"):
        load_settings()


def test_placeholder_in_a_secret_file_is_refused(tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text("changethis\n")
    monkeypatch.setenv("TASKFLOW_SECRET_KEY_FILE", str(secret))
    with pytest.raises(UserError, match="占位值"):
        load_settings().resolved_secret_key()


def test_bad_timezone_names_the_variable(monkeypatch):
    monkeypatch.setenv("TASKFLOW_TIMEZONE", "Mars/Olympus")
    with pytest.raises(UserError, match="TASKFLOW_TIMEZONE"):
        load_settings()



def _read_key(data_dir, results, slow: bool) -> None:
    import os
    import time

    import taskflow.settings
    from taskflow.settings import Settings

    if slow:  # this process stalls right after opening the key file it writes
        real = os.fdopen

        def stalling(*args, **kwargs):
            time.sleep(0.6)
            return real(*args, **kwargs)

        taskflow.settings.os.fdopen = stalling
    try:
        results.put(Settings(data_dir=data_dir).resolved_secret_key())
    except Exception as exc:  # reported through the queue, asserted in the test
        results.put(f"error: {exc}")


def test_processes_starting_at_once_agree_on_one_complete_key(tmp_path):
    """`serve` and `web` (or two dispatchers) starting together on a new data directory: the
    first stalls while writing the key; the second must neither read it half-written nor
    keep a key of its own."""
    import multiprocessing
    import time

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    first = context.Process(target=_read_key, args=(tmp_path, results, True))
    first.start()
    time.sleep(0.2)
    second = context.Process(target=_read_key, args=(tmp_path, results, False))
    second.start()
    keys = [results.get(timeout=30) for _ in range(2)]
    first.join(10)
    second.join(10)
    assert keys[0] == keys[1] and len(keys[0]) >= 32, keys
    assert (tmp_path / "secret_key").read_text().strip() == keys[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # no temporary left


def test_a_data_directory_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    import os

    if os.geteuid() == 0:  # root writes anywhere: make the data "directory" a file instead
        data_dir = tmp_path / "not-a-directory"
        data_dir.write_text("")
    else:
        data_dir = tmp_path / "locked"
        data_dir.mkdir(mode=0o500)
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(data_dir))
    with pytest.raises(UserError, match="无法读取或生成密钥文件") as caught:
        load_settings().resolved_secret_key()
    assert caught.value.problems[0].file == str(data_dir / "secret_key")
