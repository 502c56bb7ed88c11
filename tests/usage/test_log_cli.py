"""`ccgate log` as a real subprocess over a real usage database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from queue import Empty, Queue

from ccgate.usage import store
from ccgate.usage.model import UsageRecord
from tests.conftest import Runner


def record(i: int, **kw: object) -> UsageRecord:
    base: dict[str, object] = dict(
        ts=1764000000.0 + i,
        profile="max",
        method="POST",
        path="/v1/messages?beta=true",
        endpoint="messages",
        status=200,
        outcome="ok",
        model="claude-sonnet-5-5",
        input_tokens=i,
        output_tokens=10 * i,
        cache_read_tokens=100,
        cache_write_5m_tokens=5,
        cache_write_1h_tokens=7,
        cache_write_other_tokens=1,
        duration_ms=1234.4,
        billing="subscription",
    )
    base.update(kw)
    return UsageRecord(**base)  # type: ignore[arg-type]


def fill(n: int) -> None:
    conn = store.connect()
    store.insert_records(conn, [record(i) for i in range(1, n + 1)])
    conn.close()


def test_json_has_record_fields_and_honours_n(ccgate: Runner) -> None:
    fill(30)
    out = json.loads(ccgate("log", "--json", "-n", "5").stdout)
    assert [r["input_tokens"] for r in out] == [26, 27, 28, 29, 30]
    assert set(out[0]) == {"id", *store.RECORD_FIELDS}
    assert out[0]["billing"] == "subscription" and out[0]["stream"] is False
    assert len(json.loads(ccgate("log", "--json").stdout)) == 20


def test_text_table(ccgate: Runner) -> None:
    fill(2)
    conn = store.connect()
    store.insert_records(
        conn,
        [
            record(3, status=529, outcome="upstream_dropped", error_type="overloaded_error", output_tokens=0),
            record(
                4,
                endpoint="count_tokens",
                path="/v1/messages/count_tokens",
                count_tokens_input=4321,
                input_tokens=0,
                output_tokens=0,
                model=None,
            ),
        ],
    )
    lines = ccgate("log", "-n", "3").stdout.splitlines()
    assert lines[0].split()[:4] == ["time", "profile", "model", "status"]
    assert len(lines) == 4
    assert "claude-sonnet-5-5" in lines[1] and lines[1].split()[-2:] == ["20", "1234"]
    assert "529 upstream_dropped overloaded_error" in lines[2]
    assert "count_tokens [4321]" in lines[3]


def test_empty_log(ccgate: Runner) -> None:
    assert json.loads(ccgate("log", "--json").stdout) == []
    proc = ccgate("log")
    assert proc.stdout == "" and "no requests logged yet" in proc.stderr


def test_bad_n_is_one_line_error(ccgate: Runner) -> None:
    proc = ccgate("log", "-n", "-3", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "ccgate: -n must be 0 or more, not -3"


def test_follow_prints_new_requests() -> None:
    fill(2)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "ccgate", "log", "--follow", "--json", "-n", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    lines: Queue[str] = Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()

    def next_line(timeout: float = 20.0) -> dict[str, object]:
        try:
            return json.loads(lines.get(timeout=timeout))
        except Empty:
            raise AssertionError("ccgate log --follow printed nothing") from None

    try:
        assert next_line()["input_tokens"] == 2
        conn = store.connect()
        store.insert_records(conn, [record(3), record(4)])
        assert [next_line()["input_tokens"], next_line()["input_tokens"]] == [3, 4]
        assert proc.poll() is None  # still following
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=10)  # it ends at EOF, once the process is gone
        proc.stdout.close()  # type: ignore[union-attr]


def _log_on_a_terminal(columns: int, *args: str):  # type: ignore[no-untyped-def]
    from tests.terminal import Terminal

    return Terminal.start([sys.executable, "-P", "-m", "ccgate", "log", *args], env=os.environ.copy(), columns=columns)


def test_the_table_fits_the_terminal_and_says_what_it_left_out() -> None:
    fill(2)
    term = _log_on_a_terminal(80)
    assert term.finish() == 0
    lines = term.text().splitlines()
    assert lines[0] == (
        "ccgate: 6 columns left out to fit 80 characters: profile, c.read, c.w5m, c.w1h, c.w?, ms; "
        "widen the terminal or use --json"
    )
    assert lines[1].split() == ["time", "model", "status", "input", "output"]
    assert all(len(line) <= 80 for line in lines[1:])
    assert lines[3].split()[-3:] == ["200", "2", "20"]
    wide = _log_on_a_terminal(137)
    assert wide.finish() == 0
    assert wide.text().splitlines()[0].split() == list(log_columns())
    narrow = _log_on_a_terminal(136)  # one short of every column: the least needed one goes
    assert narrow.finish() == 0
    assert (
        narrow.text().splitlines()[0].endswith("left out to fit 136 characters: c.w?; widen the terminal or use --json")
    )


def log_columns() -> tuple[str, ...]:
    return ("time", "profile", "model", "status", "input", "c.read", "c.w5m", "c.w1h", "c.w?", "output", "ms")


def test_the_status_column_is_as_wide_as_its_statuses(ccgate: Runner) -> None:
    fill(1)
    head = ccgate("log").stdout.splitlines()[0]
    # status is as wide as "status" (6), then the 2-space gap, then "input" right-aligned in 8.
    assert head.index("input") - head.index("status") == 6 + 2 + 3
    conn = store.connect()
    store.insert_records(conn, [record(2, status=529, outcome="upstream_dropped", error_type="overloaded_error")])
    lines = ccgate("log").stdout.splitlines()
    assert lines[0].index("input") - lines[0].index("status") == len("529 upstream_dropped overloaded_error") + 2 + 3
    assert "529 upstream_dropped overloaded_error" in lines[2]


def test_follow_ends_with_130_on_ctrl_c() -> None:
    fill(1)
    term = _log_on_a_terminal(200, "--follow")
    term.expect("claude-sonnet-5-5")
    term.interrupt()
    assert term.finish() == 130
    assert "Aborted" not in term.text() and "Traceback" not in term.text()
