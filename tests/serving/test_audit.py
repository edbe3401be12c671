"""Every list read, export, explanation and what-if leaves an audit row in the store."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.serving.conftest import AS_OF, ServedHome, add_user_at


def test_reads_exports_explanations_and_what_ifs_are_audited(
    client: TestClient, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh user, so the rows counted are this test's alone.
    token = add_user_at(served_home.home, monkeypatch, "audited_supervisor", "supervisor")
    headers = {"Authorization": f"Bearer {token}"}
    state = client.app.state.holder.current  # type: ignore[attr-defined]
    number = str(state.ranked.license_numbers[0])
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    client.get("/api/v1/dealers/ranked", params={"limit": 3, "state": "TX"}, headers=headers)
    client.get("/api/v1/dealers/ranked", params={"limit": 3, "format": "csv"}, headers=headers)
    client.get(f"/api/v1/dealers/{number}/explanation", headers=headers)
    client.post("/api/v1/score", headers=headers,
                json={"license_number": number, "changes": {"traces_3y": 1}})
    client.get(f"/api/v1/dealers/{number}", headers=headers)
    # A refused request discloses nothing and is not an audited read.
    client.get("/api/v1/models", headers=headers)

    page = client.get("/api/v1/audit", params={"user": "audited_supervisor"},
                      headers=served_home.headers("supervisor")).json()
    rows = list(reversed(page["items"]))
    assert [row["action"] for row in rows] == [
        "ranked.read", "ranked.export", "explanation.read", "whatif.score", "dealer.read"]
    for row in rows:
        assert row["user_name"] == "audited_supervisor" and row["role"] == "supervisor"
        assert (row["model_version"], row["as_of"]) == ("1", AS_OF)
        assert dt.datetime.fromisoformat(row["at"]) >= started
        assert row["detail"]["served_by"]
    assert rows[0]["detail"]["filters"] == {"state": "TX"}
    assert rows[2]["detail"]["license_number"] == number
    assert rows[3]["detail"]["changes"] == {"traces_3y": 1.0}
    assert (page["model_version"], page["as_of"]) == ("1", AS_OF)


def test_every_read_of_a_kept_page_is_audited(
    client: TestClient, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second read is answered from the page kept for the state; it is still a read.
    token = add_user_at(served_home.home, monkeypatch, "repeat_reader", "inspector")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert client.get("/api/v1/dealers/ranked", params={"limit": 4, "state": "AZ"},
                          headers=headers).status_code == 200
    page = client.get("/api/v1/audit", params={"user": "repeat_reader"},
                      headers=served_home.headers("supervisor")).json()
    assert [row["action"] for row in page["items"]] == ["ranked.read"] * 3
    assert len({row["event_id"] for row in page["items"]}) == 3
    assert all(row["detail"]["filters"] == {"state": "AZ"} for row in page["items"])


def test_audit_log_filters_and_pages(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("supervisor")
    for _ in range(3):
        client.get("/api/v1/dealers/ranked", params={"limit": 1},
                   headers=served_home.headers("inspector"))
    first = client.get("/api/v1/audit", params={"user": "inspector", "action": "ranked.read",
                                                "limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get("/api/v1/audit", params={"user": "inspector", "limit": 2,
                                                 "action": "ranked.read",
                                                 "cursor": first["next_cursor"]},
                        headers=headers).json()
    ids = [row["event_id"] for row in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    future = client.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"},
                        headers=headers).json()
    assert future["items"] == []
    # The same instant in another offset finds the same rows.
    minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    for offset in (dt.UTC, dt.timezone(dt.timedelta(hours=5))):
        recent = client.get("/api/v1/audit", params={
            "since": minute_ago.astimezone(offset).isoformat(), "user": "inspector"},
            headers=headers).json()
        assert len(recent["items"]) >= 3
    bad = client.get("/api/v1/audit", params={"since": "yesterday"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"
