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
