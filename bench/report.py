"""The bench's report: medians of the rounds, ratios to the floor, the targets met or missed,
as JSON, the Markdown table of docs/performance.md and a chart."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """One wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    peak_rss_mb: float


# The targets of the performance issue, as ratios to the floor, latencies and throughputs.
TARGETS: dict[str, dict[str, float]] = {
    "token_client_credentials": {"ratio": 0.30, "p99_ms": 20},
    "token_school_secret": {"ratio": 0.30, "p99_ms": 20},
    "introspection": {"ratio": 0.60, "p99_ms": 10},
    "student_by_id": {"ratio": 0.50},
    "students_page": {"records_per_second": 50_000},
}
RSS_TARGET_MB = 150
POSTGRES_TARGET = 0.80
SCALE_P99_TARGET = 1.5


def _median(results: list[Result], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in results)


def summarise(
    args: argparse.Namespace,
    floor: list[Result],
    results: dict[str, dict[str, list[Result]]],
    labels: dict[str, tuple[str, int]],
) -> dict[str, Any]:
    floor_rps = _median(floor, "requests_per_second")
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "workers": args.workers,
            "connections": args.connections,
            "threads": args.threads,
            "duration_s": args.duration,
            "repeats": args.repeats,
        },
        "floor": {
            "requests_per_second": round(floor_rps, 1),
            "p50_ms": round(_median(floor, "p50_ms"), 2),
            "p99_ms": round(_median(floor, "p99_ms"), 2),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in floor), 1),
        },
        "backends": {},
    }
    for backend, series in results.items():
        rows = {}
        for name, runs in series.items():
            rps = _median(runs, "requests_per_second")
            label, records = labels[name]
            rows[name] = {
                "label": label,
                "requests_per_second": round(rps, 1),
                "records_per_second": round(rps * records) if records > 1 else None,
                "p50_ms": round(_median(runs, "p50_ms"), 2),
                "p99_ms": round(_median(runs, "p99_ms"), 2),
                "errors": sum(r.errors for r in runs),
                "requests": sum(r.requests for r in runs),
                "peak_rss_mb": round(max(r.peak_rss_mb for r in runs), 1),
                "ratio_to_floor": round(rps / floor_rps, 3),
                "runs_requests_per_second": [round(r.requests_per_second, 1) for r in runs],
            }
        report["backends"][backend] = rows
    report["targets"] = check_targets(report)
    return report


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "processor": _processor(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def _processor() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue against this run: what was aimed at, what was measured."""
    checks = []
    sqlite = report["backends"].get("sqlite", {})
    for name, aims in TARGETS.items():
        row = sqlite.get(name)
        if row is None:
            continue
        for measure_name, aim in aims.items():
            if measure_name == "ratio":
                value, met = row["ratio_to_floor"], row["ratio_to_floor"] >= aim
            elif measure_name == "p99_ms":
                value, met = row["p99_ms"], row["p99_ms"] < aim
            else:
                value, met = row["records_per_second"], row["records_per_second"] >= aim
            checks.append(
                {"operation": name, "measure": measure_name, "aim": aim, "value": value, "met": met}
            )
    for backend, rows in report["backends"].items():
        peak = max((r["peak_rss_mb"] for r in rows.values()), default=0)
        checks.append(
            {
                "operation": f"all ({backend})",
                "measure": "peak_rss_mb",
                "aim": RSS_TARGET_MB,
                "value": peak,
                "met": peak < RSS_TARGET_MB,
            }
        )
    at_scale = report["backends"].get("postgresql at scale", {})
    for name, row in at_scale.items():
        small = report["backends"]["postgresql"][name]["p99_ms"]
        checks.append(
            {
                "operation": name,
                "measure": "p99_at_scale_vs_small",
                "aim": SCALE_P99_TARGET,
                "value": round(row["p99_ms"] / small, 2),
                "met": row["p99_ms"] <= SCALE_P99_TARGET * small,
            }
        )
    postgres = report["backends"].get("postgresql", {})
    for name, row in postgres.items():
        if name in sqlite:
            share = row["requests_per_second"] / sqlite[name]["requests_per_second"]
            checks.append(
                {
                    "operation": name,
                    "measure": "postgresql_vs_sqlite",
                    "aim": POSTGRES_TARGET,
                    "value": round(share, 3),
                    "met": share >= POSTGRES_TARGET,
                }
            )
    return checks


def markdown(report: dict[str, Any]) -> str:
    """The results as the table in docs/performance.md."""
    floor = report["floor"]
    lines = [
        f"Floor (bare Flask route): {floor['requests_per_second']:,.0f} requests/s, "
        f"p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms.",
        "",
        "| database | operation | requests/s | records/s | p50 ms | p99 ms | errors | "
        "peak RSS/worker MB | ratio to floor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, rows in report["backends"].items():
        for row in rows.values():
            records = f"{row['records_per_second']:,}" if row["records_per_second"] else ""
            lines.append(
                f"| {backend} | {row['label']} | {row['requests_per_second']:,.0f} | {records} | "
                f"{row['p50_ms']} | {row['p99_ms']} | {row['errors']} | {row['peak_rss_mb']} | "
                f"{row['ratio_to_floor']:.0%} |"
            )
    lines += ["", "| target | aim | measured | met |", "| --- | ---: | ---: | --- |"]
    for check in report["targets"]:
        lines.append(
            f"| {check['operation']}: {check['measure']} | {check['aim']} | {check['value']} | "
            f"{'yes' if check['met'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any], path: Path) -> None:
    """One bar per operation and database, the floor as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(report["backends"])
    names = list(next(iter(report["backends"].values())))
    labels = [report["backends"][backends[0]][n]["label"] for n in names]
    width = 0.8 / len(backends)
    figure, axes = plt.subplots(figsize=(11, 5.5))
    for index, backend in enumerate(backends):
        rows = report["backends"][backend]
        values = [rows.get(n, {}).get("requests_per_second", 0) for n in names]
        positions = [i + (index - (len(backends) - 1) / 2) * width for i in range(len(names))]
        axes.bar(positions, values, width=width, label=backend)
    floor = report["floor"]["requests_per_second"]
    axes.axhline(floor, color="black", linestyle="--", label="floor")
    axes.set_xticks(range(len(names)), labels, rotation=25, ha="right")
    axes.set_ylabel("requests per second (median of rounds)")
    axes.set_title(
        f"Hot paths against the floor ({report['settings']['workers']} gunicorn workers, "
        f"{report['settings']['connections']} connections, {report['machine']['cpus']} cores)"
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
