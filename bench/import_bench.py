"""How fast ccgate reads Claude Code's transcripts (ccgate/usage/transcripts.py) on a big history.

    python bench/import_bench.py [--size-mb 1024] [--runs 3] [--seed 1] [--keep]

Generates a corpus in a temp dir shaped like real transcripts: every line is a real line of Claude
Code 2.1.197 or 2.1.332 (tests/fixtures/transcripts) with fresh ids, timestamps and content of
realistic sizes. Sessions are tool loops: a prompt, then responses of one to three content blocks
(thinking, text, tool_use: one line each, the same usage on each) each followed by its tool output
(heavy-tailed sizes, Read-like results twice: in the message and in toolUseResult), attachments,
some Agent calls with their subagent files, a few API errors; half the sessions are 2.1.332-style
with their request snapshots (api-request-shape/-blob/-request lines). Most bytes are prompts and
tool output, as in a heavy user's ~/.claude/projects.

Then, each in a fresh child process (its peak RSS is its VmHWM):
  read only     read every file in blocks, parse nothing: the I/O ceiling of this machine
  first scan    scan everything with no state (files just written: in the page cache)
  nothing new   scan again with the states the first scan returned
  append-only   append a turn to 5% of the sessions, scan with those states
Scan times are measured inside the child (interpreter start-up excluded); medians over --runs.
Then the whole command, `ccgate import DIR` into a fresh usage log (scan, match and write every
response), and `ccgate import DIR` again: wall time of the process, start-up included, and its
peak RSS (the kernel's ru_maxrss of that child, from wait4).
Targets (issue 17): >= 100 MB/s first scan, peak RSS <= 100 MiB on 1 GB, nothing new <= 1 s.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "transcripts"
MODELS = ["claude-opus-4-8", "claude-sonnet-5", "claude-sonnet-5-5", "claude-haiku-4-5-20251001"]
# Words, code and escapes a JSON encoder has to deal with (quotes, backslashes, tabs, newlines, non-ASCII).
WORDS = (  # noqa: SIM905 - prose reads better than a 70-item list
    "the of and to in is that for it with as on be this are by def return self import from class if else "
    "for while try except raise None True False const let function => { } ( ) [ ] ; = == != < > + - * / "
    'x y i n value result error path file config "quoted" \\ back\\slash tab\t new\nline café 数据 ✓'
).split(" ")


# --- templates: real lines ----------------------------------------------------------------------


def _fixture_lines(version: str) -> list[dict[str, Any]]:
    lines = []
    for path in sorted((FIXTURES / f"cc-{version}").rglob("*.jsonl")):
        lines += [json.loads(raw) for raw in path.read_bytes().splitlines() if raw.strip()]
    return lines


def _first(lines: list[dict[str, Any]], kind: str, test: Any = None) -> dict[str, Any]:
    return next(d for d in lines if d.get("type") == kind and (test is None or test(d)))


def content(line: dict[str, Any]) -> Any:
    return line["message"]["content"]


def load_templates() -> dict[str, dict[str, Any]]:
    old, new = _fixture_lines("2.1.197"), _fixture_lines("2.1.332")
    return {
        "enqueue": _first(old, "queue-operation"),
        "prompt": _first(old, "user", lambda d: isinstance(content(d), str)),
        "attachment": _first(old, "attachment", lambda d: d["attachment"].get("type") == "skill_listing"),
        "assistant": _first(old, "assistant", lambda d: d["message"]["model"] != "<synthetic>"),
        "agent_assistant": _first(old, "assistant", lambda d: "agentId" in d),
        "agent_result": _first(old, "user", lambda d: isinstance(d.get("toolUseResult"), dict)),
        "tool_result": _first(old, "user", lambda d: not isinstance(content(d), str)),
        "synthetic": _first(old, "assistant", lambda d: d["message"]["model"] == "<synthetic>"),
        "last_prompt": _first(old, "last-prompt"),
        "shape": _first(new, "api-request-shape"),
        "blob": _first(new, "api-request-blob"),
        "request": _first(new, "api-request"),
        "cost": _first(new, "cost-state"),
    }


# --- the corpus ----------------------------------------------------------------------------------


class Writer:
    """Writes one session's lines (and its subagents') with fresh ids and content of drawn sizes."""

    def __init__(self, rng: random.Random, templates: dict[str, dict[str, Any]], pool: str) -> None:
        self.rng, self.t, self.pool = rng, templates, pool
        self.responses = 0
        self.output_tokens = 0
        self.clock = 1_780_000_000.0

    # sizes (characters), lognormal around a median, capped
    def size(self, median: float, sigma: float, cap: int) -> int:
        return min(cap, max(1, int(self.rng.lognormvariate(0, sigma) * median)))

    def text(self, n: int) -> str:
        start = self.rng.randrange(0, len(self.pool) - n) if n < len(self.pool) else 0
        return self.pool[start : start + n]

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def ident(self, prefix: str, n: int) -> str:
        return prefix + base64.b32encode(self.rng.randbytes(n)).decode().rstrip("=")

    def stamp(self) -> str:
        self.clock += self.rng.uniform(0.05, 20)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock)) + f".{self.rng.randrange(1000):03d}Z"

    def line(self, name: str, **changes: Any) -> bytes:
        data = json.loads(json.dumps(self.t[name]))  # a fresh copy of the real line
        for key, value in changes.items():
            data[key] = value
        if "timestamp" in data:
            data["timestamp"] = self.stamp()
        if "uuid" in data:
            data["uuid"] = self.uuid()
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"

    def usage(self) -> dict[str, Any]:
        write = self.rng.choice([0, 0, self.rng.randrange(100, 30_000)])
        one_hour = write if self.rng.random() < 0.7 else 0
        return {
            "input_tokens": self.rng.randrange(1, 60),
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": self.rng.randrange(5_000, 180_000),
            "output_tokens": self.size(300, 1.2, 32_000),
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": one_hour, "ephemeral_5m_input_tokens": write - one_hour},
            "inference_geo": "",
            "iterations": [],
            "speed": "standard",
        }

    def response(self, common: dict[str, Any], model: str, tool: dict[str, Any] | None, agent: bool) -> list[bytes]:
        """One API response: a line per content block, the same ids and usage on each."""
        message_id, request_id, usage = self.ident("msg_01", 15), self.ident("req_011C", 12), self.usage()
        self.responses += 1
        self.output_tokens += usage["output_tokens"]
        blocks: list[dict[str, Any]] = []
        if self.rng.random() < 0.6:
            signature = base64.b64encode(self.rng.randbytes(self.size(600, 0.5, 4000))).decode()
            blocks.append(
                {"type": "thinking", "thinking": self.text(self.size(800, 1.0, 20_000)), "signature": signature}
            )
        if tool is None or self.rng.random() < 0.5:
            blocks.append({"type": "text", "text": self.text(self.size(400, 1.0, 8_000))})
        if tool is not None:
            blocks.append(tool)
        template = self.t["agent_assistant" if agent else "assistant"]
        out = []
        for block in blocks:
            message = {
                **template["message"],
                "id": message_id,
                "model": model,
                "content": [block],
                "stop_reason": "tool_use" if tool else "end_turn",
                "usage": usage,
            }
            out.append(
                self.line("agent_assistant" if agent else "assistant", message=message, requestId=request_id, **common)
            )
        return out

    def tool_use(self, name: str | None = None) -> dict[str, Any]:
        kind = name or self.rng.choices(["Bash", "Read", "Edit", "Write", "Grep"], [35, 30, 15, 8, 12])[0]
        if kind == "Agent":
            task = {
                "description": "explore",
                "prompt": self.text(self.size(600, 0.8, 6000)),
                "subagent_type": "Explore",
            }
            return {"type": "tool_use", "id": self.ident("toolu_01", 15), "name": "Agent", "input": task}
        if kind == "Edit":
            args = {"file_path": "/src/app.py", "old_string": self.text(self.size(800, 1.0, 20_000))}
            args["new_string"] = self.text(self.size(900, 1.0, 20_000))
        elif kind == "Write":
            args = {"file_path": "/src/new.py", "content": self.text(self.size(4_000, 1.2, 120_000))}
        else:
            args = {"command": self.text(self.size(120, 0.7, 2_000)), "description": "run"}
        return {"type": "tool_use", "id": self.ident("toolu_01", 15), "name": kind, "input": args}

    def tool_result(self, tool: dict[str, Any], common: dict[str, Any]) -> bytes:
        output = self.text(self.size(2_500, 1.5, 400_000))
        message = {"role": "user", "content": [{"tool_use_id": tool["id"], "type": "tool_result", "content": output}]}
        extra: dict[str, Any] = {}
        if tool["name"] == "Read":  # Claude Code keeps the file's content a second time
            extra["toolUseResult"] = {"type": "text", "file": {"filePath": "/src/x.py", "content": output}}
        return self.line("tool_result", message=message, **extra, **common)

    def loop(self, f: Any, common: dict[str, Any], model: str, steps: int, agent: bool, subagents: Path | None) -> None:
        """A tool loop of `steps` responses, the last one without a tool call."""
        snapshots = common.get("version") == "2.1.332"
        for step in range(steps):
            last = step == steps - 1
            spawn = subagents is not None and not last and self.rng.random() < 0.06
            tool = None if last else self.tool_use("Agent" if spawn else None)
            if snapshots:
                f.write(self.line("request", sessionId=common["sessionId"], id=self.uuid()))
            for raw in self.response(common, model, tool, agent):
                f.write(raw)
            if self.rng.random() < 0.004:
                f.write(self.line("synthetic", sessionId=common["sessionId"], cwd=common["cwd"]))
            if tool is None:
                continue
            if spawn and subagents is not None:
                f.write(self.subagent(subagents, common, model, tool))
                continue
            result = self.tool_result(tool, common)
            f.write(result)
            if snapshots:  # the next request's new messages, kept again as a blob
                blob = {"role": "user", "content": json.loads(result)["message"]["content"]}
                f.write(self.line("blob", sessionId=common["sessionId"], hash=self.ident("", 32), message=blob))
            if self.rng.random() < 0.15:
                f.write(self.attachment(common))

    def attachment(self, common: dict[str, Any]) -> bytes:
        attachment = {"type": "skill_listing", "content": self.text(self.size(2_000, 1.0, 40_000))}
        return self.line("attachment", attachment=attachment, **common)

    def subagent(self, directory: Path, common: dict[str, Any], model: str, tool: dict[str, Any]) -> bytes:
        agent_id = f"a{self.rng.getrandbits(64):016x}"[:18]
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / f"agent-{agent_id}.jsonl").open("wb") as f:
            sub = {**common, "agentId": agent_id, "isSidechain": True}
            f.write(self.line("prompt", message={"role": "user", "content": tool["input"]["prompt"]}, **sub))
            self.loop(f, sub, model, self.rng.randrange(3, 20), True, None)
        result = dict(self.t["agent_result"]["toolUseResult"], agentId=agent_id, usage=self.usage())
        message = {"role": "user", "content": [{"tool_use_id": tool["id"], "type": "tool_result", "content": "done"}]}
        return self.line("agent_result", message=message, toolUseResult=result, **common)

    def session(self, project: Path, cwd: str, target: int) -> int:
        session_id = self.uuid()
        version = self.rng.choice(["2.1.197", "2.1.332"])
        common = {"sessionId": session_id, "cwd": cwd, "version": version, "gitBranch": "main"}
        model = self.rng.choice(MODELS)
        path = project / f"{session_id}.jsonl"
        with path.open("wb") as f:
            if version == "2.1.332":
                f.write(self.line("shape", sessionId=session_id))
            while f.tell() < target:
                self.turn(f, common, model, project / session_id / "subagents")
            if version == "2.1.332":
                f.write(self.line("cost", sessionId=session_id))
        return path.stat().st_size + sum(p.stat().st_size for p in (project / session_id).rglob("*.jsonl"))

    def turn(self, f: Any, common: dict[str, Any], model: str, subagents: Path | None) -> None:
        prompt = self.text(self.size(300, 1.2, 20_000))
        f.write(self.line("enqueue", sessionId=common["sessionId"], content=prompt))
        f.write(self.line("prompt", message={"role": "user", "content": prompt}, **common))
        if self.rng.random() < 0.3:
            f.write(self.attachment(common))
        self.loop(f, common, model, max(1, int(self.rng.expovariate(1 / 8))), False, subagents)
        f.write(self.line("last_prompt", sessionId=common["sessionId"], lastPrompt=prompt[:200]))


def text_pool(rng: random.Random, chars: int = 4_000_000) -> str:
    words = rng.choices(WORDS, k=chars // 5)
    return " ".join(words)[:chars]


def generate(root: Path, size: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    writer = Writer(rng, load_templates(), text_pool(rng))
    written = sessions = 0
    projects = [root / f"-home-dev-src-project{n:02d}" for n in range(40)]
    while written < size:
        project = rng.choice(projects)
        project.mkdir(parents=True, exist_ok=True)
        target = min(size - written, max(20_000, writer.size(400_000, 1.3, 60_000_000)))
        written += writer.session(project, "/home/dev/src/" + project.name.rsplit("-", 1)[1], target)
        sessions += 1
    return {"bytes": written, "sessions": sessions, "responses": writer.responses, "output": writer.output_tokens}


def append_turns(root: Path, fraction: float, seed: int) -> dict[str, int]:
    """Append one turn to `fraction` of the session files (subagents untouched)."""
    rng = random.Random(seed)
    writer = Writer(rng, load_templates(), text_pool(rng, 1_000_000))
    sessions = sorted(p for p in root.glob("*/*.jsonl"))
    chosen = rng.sample(sessions, max(1, int(len(sessions) * fraction)))
    appended = 0
    for path in chosen:
        common = {"sessionId": path.stem, "cwd": "/home/dev/src/x", "version": "2.1.197", "gitBranch": "main"}
        with path.open("ab") as f:
            start = f.tell()
            writer.turn(f, common, MODELS[0], None)
            appended += f.tell() - start
    return {"files": len(chosen), "bytes": appended, "responses": writer.responses}


def composition(root: Path) -> dict[str, float]:
    """Share of lines and bytes that are assistant lines, over a sample of files."""
    lines = assistant_lines = size = assistant_bytes = 0
    for path in sorted(root.rglob("*.jsonl"))[::10]:
        for raw in path.read_bytes().splitlines(keepends=True):
            lines += 1
            size += len(raw)
            if b'"type":"assistant"' in raw:
                assistant_lines += 1
                assistant_bytes += len(raw)
    return {"assistant_line_share": assistant_lines / lines, "assistant_byte_share": assistant_bytes / size}


# --- the measured child -------------------------------------------------------------------------


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(mode: str, corpus: Path, states_file: Path) -> None:
    from ccgate.usage.transcripts import FileState, ScanResult, scan_all

    imports_kib = vm_hwm_kib()
    states: dict[str, FileState] = {}
    if mode != "read" and states_file.exists() and mode != "first":
        states = {k: FileState(**v) for k, v in json.loads(states_file.read_text()).items()}
    start = time.perf_counter()
    files = read = responses = output = problems = 0
    new_states: dict[str, FileState] = {}
    if mode == "read":
        for path in corpus.rglob("*.jsonl"):
            with path.open("rb", buffering=0) as f:
                while chunk := f.read(4 * 1024 * 1024):
                    read += len(chunk)
            files += 1
    else:
        for name, result in scan_all([corpus], states):
            assert isinstance(result, ScanResult), result
            files += 1
            read += result.counts.read_bytes
            responses += len(result.records)
            output += sum(r.output_tokens for r in result.records)
            problems += sum(result.counts.skipped.values())
            new_states[name] = result.state
    elapsed = time.perf_counter() - start
    if mode != "read":  # the caller's persisting, outside the timed scan
        states_file.write_text(json.dumps({k: dataclasses.asdict(v) for k, v in new_states.items()}))
    report = {"files": files, "read": read, "responses": responses, "output": output, "problems": problems}
    print(json.dumps({**report, "seconds": elapsed, "hwm_kib": vm_hwm_kib(), "imports_kib": imports_kib}))


def run_child(mode: str, corpus: Path, states_file: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", mode, "--corpus", str(corpus), "--states", str(states_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout))


# --- the table ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="corpus size (default 1024 MB, 1 MB = 2**20 bytes)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the corpus and print where it is")
    parser.add_argument("--child", choices=["read", "first", "again"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--states", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.states)
        return

    work = Path(tempfile.mkdtemp(prefix="ccgate-import-bench-"))
    corpus, states = work / "projects", work / "states.json"
    try:
        started = time.perf_counter()
        made = generate(corpus, args.size_mb * 1024 * 1024, args.seed)
        files = sum(1 for _ in corpus.rglob("*.jsonl"))
        shares = composition(corpus)
        mib = made["bytes"] / 1024 / 1024
        print(
            f"corpus: {mib:.0f} MiB in {files} files ({made['sessions']} sessions + subagents), "
            f"{made['responses']} responses; assistant lines are {shares['assistant_line_share']:.0%} of lines, "
            f"{shares['assistant_byte_share']:.0%} of bytes; generated in {time.perf_counter() - started:.0f} s"
        )
        rows = [measure(corpus, states, made, args.runs, args.seed)]
        print_table(["", "median s", "MB/s", "read MiB", "records", "peak RSS MiB", "of which start-up"], rows[0])
        if args.keep:
            print(f"corpus kept in {corpus}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def measure(corpus: Path, states: Path, made: dict[str, int], runs: int, seed: int) -> list[list[str]]:
    def row(label: str, results: list[dict[str, Any]]) -> list[str]:
        seconds = statistics.median(r["seconds"] for r in results)
        read = statistics.median(r["read"] for r in results)
        speed = f"{read / 1e6 / seconds:.0f}" if read and seconds else "-"
        hwm = max(r["hwm_kib"] for r in results) / 1024
        startup = max(r["imports_kib"] for r in results) / 1024
        return [
            label,
            f"{seconds:.3f}",
            speed,
            f"{read / 2**20:.1f}",
            str(results[0]["responses"]),
            f"{hwm:.0f}",
            f"{startup:.0f}",
        ]

    read_only = [run_child("read", corpus, states) for _ in range(runs)]
    first = [run_child("first", corpus, states) for _ in range(runs)]
    assert first[0]["responses"] == made["responses"], (first[0], made)  # every response once
    assert first[0]["output"] == made["output"] and first[0]["problems"] == 0, (first[0], made)
    again = [run_child("again", corpus, states) for _ in range(runs)]
    assert all(r["responses"] == 0 for r in again), again
    appends = []
    for n in range(runs):
        added = append_turns(corpus, 0.05, seed + 1000 + n)
        result = run_child("again", corpus, states)
        # Only the new lines are read: the bytes appended, each response once.
        assert (result["read"], result["responses"]) == (added["bytes"], added["responses"]), (result, added)
        appends.append(result)
        made = {**made, "responses": made["responses"] + added["responses"], "bytes": made["bytes"] + added["bytes"]}
    return [
        row("read only (no parsing)", read_only),
        row("first scan", first),
        row(f"nothing new ({again[0]['files']} files)", again),
        row("append-only (a turn on 5% of sessions)", appends),
        *import_rows(corpus, made, runs),
    ]


def import_rows(corpus: Path, made: dict[str, int], runs: int) -> list[list[str]]:
    """`ccgate import` as a person runs it: first into an empty log, then with nothing new."""
    import os

    first: list[tuple[float, float]] = []
    again: list[tuple[float, float]] = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="ccgate-import-bench-log-"))
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home)}
        env.update({f"CCGATE_{d.upper()}_DIR": str(home / d) for d in ("config", "data", "state")})
        for into in (first, again):
            argv = [sys.executable, "-P", "-m", "ccgate", "import", "--json", str(corpus)]
            out = home / "out.json"
            start = time.perf_counter()
            with out.open("w") as sink:
                proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.DEVNULL)
                _pid, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            assert proc.returncode == 0, proc.returncode
            peak_mib = usage.ru_maxrss / 1024
            summary = json.loads(out.read_text())
            expected_added = made["responses"] if into is first else 0
            assert summary["added"] == expected_added, summary
            into.append((elapsed, peak_mib))
        shutil.rmtree(home, ignore_errors=True)
    mib = made["bytes"] / 2**20

    def row(label: str, results: list[tuple[float, float]], read_mib: float) -> list[str]:
        seconds = statistics.median(r[0] for r in results)
        speed = f"{read_mib * 2**20 / 1e6 / seconds:.0f}" if read_mib else "-"
        records = str(made["responses"]) if read_mib else "0"
        return [label, f"{seconds:.3f}", speed, f"{read_mib:.1f}", records, f"{max(r[1] for r in results):.0f}", "-"]

    return [
        row("ccgate import (into an empty log)", first, mib),
        row("ccgate import (nothing new)", again, 0.0),
    ]


if __name__ == "__main__":
    main()
