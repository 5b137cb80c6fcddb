"""The bench drives real flows: its world must work through the same endpoints, or a bench run
would measure error pages. And its report must compute what it claims."""

from __future__ import annotations

import argparse

from authserver.extensions import db
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from bench import report as bench_report
from bench.world import DELTA_CHANGES, build
from tests.oauth_flow import basic_auth


def test_the_bench_world_serves_every_operation(app, client) -> None:
    with app.app_context():
        world = build(app.config["SETTINGS"], refresh_tokens=3, students=60)
    vendor = basic_auth(world["client_id"], world["client_secret"])
    secret_form = {
        "grant_type": SCHOOL_SECRET_GRANT_TYPE,
        "school_id": str(world["school_id"]),
        "school_secret": world["school_secret"],
        "scope": world["token_scope"],
    }
    token = client.post("/oauth/token", data=secret_form, headers=vendor).get_json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}

    # Each pooled refresh token works exactly once, as the load needs.
    for value in world["refresh_tokens"]:
        data = {"grant_type": "refresh_token", "refresh_token": value}
        assert client.post("/oauth/token", data=data, headers=vendor).status_code == 200
        assert client.post("/oauth/token", data=data, headers=vendor).status_code == 400

    # The grant is narrowed to three year groups: the page holds only their pupils.
    page = client.get("/api/v1/students?limit=1000", headers=bearer).get_json()["data"]
    with app.app_context():
        from sqlalchemy import func, select

        from authserver.models.mis.students import Student

        everyone = db.session.scalar(
            select(func.count()).where(Student.school_id == world["school_id"])
        )
    assert 0 < len(page) < everyone
    assert "date_of_birth" not in page[0]  # StudentLite shows no date of birth

    since = world["delta_since"].replace("+00:00", "Z")
    delta = client.get(f"/api/v1/students?updated_after={since}", headers=bearer).get_json()
    assert 0 < len(delta["data"]) <= DELTA_CHANGES

    one = client.get(f"/api/v1/students/{world['student_id']}", headers=bearer)
    assert one.status_code in (200, 404)  # the first pupil may be outside the year groups

    server = world["resource_server"]
    introspection = client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(server["client_id"], server["client_secret"]),
    ).get_json()
    assert introspection["active"] is True


def result(rps: float, p99: float = 5.0) -> bench_report.Result:
    return bench_report.Result(
        requests_per_second=rps, p50_ms=1.0, p99_ms=p99, errors=0, requests=100, peak_rss_mb=90
    )


def test_the_report_takes_medians_and_checks_each_target() -> None:
    args = argparse.Namespace(workers=2, connections=4, threads=2, duration=4, repeats=3)
    floor = [result(1000), result(3000), result(2000)]  # median 2000
    results = {
        "sqlite": {
            "introspection": [result(1300, 8), result(900, 12), result(1250, 9)],
            "students_page": [result(60), result(40), result(55)],
        },
        "postgresql": {"introspection": [result(900), result(950), result(850)]},
    }
    labels = {"introspection": ("introspection", 1), "students_page": ("page", 1000)}
    report = bench_report.summarise(args, floor, results, labels)

    row = report["backends"]["sqlite"]["introspection"]
    assert (row["requests_per_second"], row["p99_ms"], row["ratio_to_floor"]) == (1250, 9, 0.625)
    assert report["backends"]["sqlite"]["students_page"]["records_per_second"] == 55_000
    checks = {(c["operation"], c["measure"]): c["met"] for c in report["targets"]}
    assert checks[("introspection", "ratio")] is True
    assert checks[("introspection", "p99_ms")] is True
    assert checks[("students_page", "records_per_second")] is True
    assert checks[("introspection", "postgresql_vs_sqlite")] is False  # 900 / 1250
    assert "| sqlite | introspection | 1,250 |" in bench_report.markdown(report)
