"""`siyu` refuses bad input in one line, before any run starts."""

import pytest

from orchestration.cli import main as siyu


@pytest.fixture
def landed(tmp_path, monkeypatch):
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path))
    (tmp_path / "landing" / "crm" / "2026-05-01").mkdir(parents=True)
    (tmp_path / "landing" / "crm" / "2026-05-02").mkdir(parents=True)
    return tmp_path


def _one_line_exit(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        siyu(argv)
    message = str(exc.value.code)
    assert message.startswith("siyu") and "\n" not in message, message
    assert "Traceback" not in capsys.readouterr().err
    return message


def test_a_malformed_date_is_one_line(landed, capsys):
    message = _one_line_exit(capsys, ["run", "--date", "2026-13-45"])
    assert "'2026-13-45' is not a date YYYY-MM-DD" in message


def test_a_date_with_no_landed_data_is_refused(landed, capsys):
    message = _one_line_exit(capsys, ["run", "--date", "2026-06-30"])
    assert "no day folder landed" in message and "2026-05-01 .. 2026-05-02" in message


def test_only_the_configured_sources_count_as_landed(landed, monkeypatch, capsys):
    monkeypatch.setenv("SIYU_SOURCES", "wecom")
    message = _one_line_exit(capsys, ["run"])
    assert "nothing landed" in message and "sources: wecom" in message


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("SIYU_DBT_THREADS", "0", "SIYU_DBT_THREADS must be at least 1"),
        ("SIYU_PUBLISH_KEEP_VERSIONS", "many", "SIYU_PUBLISH_KEEP_VERSIONS must be a whole number"),
        ("SIYU_SOURCES", "crm,erp", "unknown source(s) erp"),
        ("SIYU_ENVIRONMENT", "production", "SIYU_HASH_SALT is unset or the development salt"),
        ("SIYU_PG_READERS", "bi_reader,x; drop role y", "not a plain role name"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    landed, monkeypatch, capsys, var, value, expected
):
    monkeypatch.setenv(var, value)
    assert expected in _one_line_exit(capsys, ["run"])


def test_an_unknown_model_name_exits_non_zero(landed, capsys):
    assert siyu(["models", "--name", "unknown"]) == 2
    assert "unknown model 'unknown'" in capsys.readouterr().err
    assert siyu(["models", "--name", "churn"]) == 0


def test_a_second_run_on_the_same_data_folder_is_refused(landed, capsys):
    """Two `siyu run` at once would both write: the second stops in one line, naming the first."""
    import multiprocessing

    from orchestration.cli import run_lock

    ready, release = multiprocessing.Event(), multiprocessing.Event()

    def hold():
        with run_lock(landed):
            ready.set()
            release.wait(30)

    first = multiprocessing.get_context("fork").Process(target=hold)
    first.start()
    try:
        assert ready.wait(30)
        message = _one_line_exit(capsys, ["run"])
        assert f"another siyu run (pid {first.pid}) is writing to {landed}" in message
    finally:
        release.set()
        first.join(30)
    with run_lock(landed):  # free again once the first run ends
        pass
