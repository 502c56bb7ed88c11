"""Who spent it: a session with a main loop, an agent and an agent of that agent, through the forwarder."""

from __future__ import annotations

import json

import httpx

from tests.fakes.upstream import FakeUpstream, Gate, add_profile

SESSION = "aaaaaaaa-0000-4000-8000-000000000001"
OTHER = "bbbbbbbb-0000-4000-8000-000000000002"


def usage(i: int) -> dict[str, object]:
    return {
        "input_tokens": 10 * i,
        "cache_read_tokens": 0,
        "cache_read_input_tokens": 1000 * i,
        "cache_creation_input_tokens": 300 * i,
        "cache_creation": {"ephemeral_5m_input_tokens": 100 * i, "ephemeral_1h_input_tokens": 200 * i},
        "output_tokens": 7 * i,
    }


# (session, agent id, parent agent id, usage multiplier)
CALLS = [
    (SESSION, None, None, 1),
    (SESSION, None, None, 2),  # main loop
    (SESSION, "agent-a", None, 3),
    (SESSION, "agent-a", None, 4),  # a subagent
    (SESSION, "agent-b", "agent-a", 5),  # spawned by agent-a
    (OTHER, None, None, 6),
]


def test_session_tree_sums_equal_the_upstreams_usage(ccgate) -> None:
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret="sk-ant-oat01-agents", base_url=fake.url)
        with Gate() as gate:
            for session, agent, parent, i in CALLS:
                headers = {
                    "authorization": "Bearer sk-ant-oat01-client",
                    "x-claude-code-session-id": session,
                    "x-fake-usage": json.dumps(usage(i)),
                }
                if agent:
                    headers["x-claude-code-agent-id"] = agent
                if parent:
                    headers["x-claude-code-parent-agent-id"] = parent
                body = {
                    "model": "claude-sonnet-5",
                    "max_tokens": 50,
                    "stream": i % 2 == 0,
                    "messages": [{"role": "user", "content": "hi"}],
                }
                assert (
                    httpx.post(gate.profile_url("max") + "/v1/messages", json=body, headers=headers).status_code == 200
                )
            gate.wait_logged(len(CALLS))
    by_agent = json.loads(ccgate("stats", "--by", "agent", "--json").stdout)
    trees = {t["session_id"]: t["tree"] for t in by_agent["sessions"]}
    assert set(trees) == {SESSION, OTHER}
    root = trees[SESSION]
    assert root["agent_id"] is None
    (agent_a,) = root["children"]
    (agent_b,) = agent_a["children"]
    assert (agent_a["agent_id"], agent_b["agent_id"]) == ("agent-a", "agent-b")

    def expected(*multipliers: int) -> dict[str, int]:
        return {
            "requests": len(multipliers),
            "input_tokens": sum(10 * i for i in multipliers),
            "cache_read_tokens": sum(1000 * i for i in multipliers),
            "cache_write_tokens": sum(300 * i for i in multipliers),
            "output_tokens": sum(7 * i for i in multipliers),
        }

    def figures(totals: dict[str, object]) -> dict[str, object]:
        return {k: totals[k] for k in expected()}

    assert figures(root) == expected(1, 2)
    assert figures(agent_a) == expected(3, 4)
    assert figures(agent_b) == expected(5)
    assert figures(agent_a["subtree"]) == expected(3, 4, 5)
    assert figures(root["subtree"]) == expected(1, 2, 3, 4, 5)
    # The root's subtree is the session total the session report gives, cost included.
    by_session = json.loads(ccgate("stats", "--by", "session", "--json").stdout)
    row = next(r for r in by_session["rows"] if r["key"] == SESSION)
    assert row["requests"] == 5 and row["input_tokens"] == root["subtree"]["input_tokens"]
    assert row["output_tokens"] == root["subtree"]["output_tokens"]
    assert abs(row["cost_usd"] - root["subtree"]["cost_usd"]) < 1e-6
    # --session shows the one session the same way; CSV carries the same nodes.
    one = json.loads(ccgate("stats", "--session", SESSION, "--json").stdout)
    assert [t["session_id"] for t in one["sessions"]] == [SESSION]
    assert one["sessions"][0]["tree"] == root
    csv_lines = ccgate("stats", "--session", SESSION, "--csv").stdout.splitlines()
    assert len(csv_lines) == 1 + 3 and csv_lines[3].startswith(f"{SESSION},2,agent-b,agent-a,1,")
    table = ccgate("stats", "--session", SESSION, env={"COLUMNS": "160"}).stdout
    assert "main loop" in table and "agent agent-b" in table
    missing = ccgate("stats", "--session", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("ccgate: no requests logged")
