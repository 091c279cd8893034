#!/usr/bin/env python3
"""Renders the results benches/run.sh collected (one directory of JSON and text files) as
markdown: the machine, the exact command, and one table with every figure and its target.
Standard library only.

    python3 benches/report.py --results target/bench-logs/results --command 'bash benches/run.sh'
"""

import argparse
import json
import os
import platform
import re
import subprocess
from pathlib import Path

PASS, MISS = "PASS", "**MISS**"


def load(results, name):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def run(*command):
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine():
    model = next(
        (line.split(":", 1)[1].strip() for line in run("lscpu").splitlines() if line.startswith("Model name")),
        platform.processor() or "?",
    )
    mem_kb = next(
        (int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
        0,
    )
    return [
        ("CPU", f"{model}, nproc {run('nproc')}"),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("rustc", run("rustc", "--version")),
        ("load generator", " ".join(run("wrk", "-v").split()[:2]) + " on the same machine"),
    ]


def rate(value):
    return f"{value:,.0f} req/s"


def ms(value):
    return f"{value:.2f} ms"


def wrk_result(w):
    text = f"{rate(w['rps'])} · p50 {ms(w['p50_ms'])} · p99 {ms(w['p99_ms'])}"
    errors = sum(w[k] for k in w if k.startswith("errors_"))
    if errors:
        text += f" · **{errors} errors** (non-2xx {w['errors_status']}, timeouts {w['errors_timeout']})"
    return text


def verdict(ok, detail=""):
    return (PASS if ok else MISS) + (f" ({detail})" if detail else "")


def http_rows(results, settings):
    rows = []
    healthz, top, window = (load(results, n) for n in ("healthz", "top", "window"))
    load_desc = f"{settings['threads']} wrk threads, {settings['connections']} connections, {settings['seconds']} s"
    if healthz:
        rows.append(("1", f"`GET /healthz`, the HTTP stack's ceiling ({load_desc})", wrk_result(healthz), "—", "—"))
    if top and healthz:
        ratio = top["rps"] / healthz["rps"]
        rows.append((
            "1",
            "`GET /campaigns/bench/top`, cached (same load)",
            wrk_result(top) + f" · {ratio:.2f} × /healthz",
            "≥ 0.90 × /healthz",
            verdict(ratio >= 0.9, f"{ratio:.2f} ×"),
        ))
    half, params = load(results, "top_half"), load(results, "top_half.params")
    if half and params:
        achieved = half["rps"] / params["target_rps"]
        rows.append((
            "1",
            f"`/top` paced at half the max: target {rate(params['target_rps'])} "
            f"({params['connections']} connections, {params['delay_ms']} ms apart)",
            f"achieved {wrk_result(half)} ({achieved:.0%} of target)",
            "p99 < 2 ms",
            verdict(half["p99_ms"] < 2.0, ms(half["p99_ms"])),
        ))
    if window and healthz:
        ratio = window["rps"] / healthz["rps"]
        rows.append((
            "2",
            "`GET /campaigns/bench/window?last=15m`, limit 1/10/50/100 in turn, cached (same load)",
            wrk_result(window) + f" · {ratio:.2f} × /healthz",
            "—",
            "—",
        ))
    sustain, amp = load(results, "sustain"), load(results, "amplification")
    if sustain and amp:
        seconds = sustain["duration_s"]
        factor = amp["queries"] / (seconds * amp["keys"])
        rows.append((
            "3",
            f"backend queries under {seconds:.1f} s of sustained load on {amp['keys']} keys "
            f"(`/top` + `/window?last=15m`), TTL {amp['ttl']}",
            f"{amp['queries']} queries / ({seconds:.1f} s × {amp['keys']} keys) = **{factor:.3f}** per key per TTL "
            f"· at {rate(sustain['rps'])}",
            "≤ 1.05",
            verdict(factor <= 1.05, f"{factor:.3f}"),
        ))
    storm, storm_q = load(results, "storm"), load(results, "storm.queries")
    if storm and storm_q:
        ok = f"{storm['ok']}/{storm['n']} answered 200"
        if storm["ok"] != storm["n"]:
            ok = f"**{ok}** ({storm['statuses']})"
        latency = (
            f"p50 {ms(storm['p50_ms'])} · p99 {ms(storm['p99_ms'])} · max {ms(storm['max_ms'])}"
            if "p99_ms" in storm else "no answers"
        )
        rows.append((
            "4",
            f"cold storm: {storm['n']} concurrent first requests for `{storm_q['path']}`",
            f"{storm_q['queries']} backend quer{'y' if storm_q['queries'] == 1 else 'ies'} · {latency} · {ok}",
            "exactly 1 query",
            verdict(storm_q["queries"] == 1 and storm["ok"] == storm["n"], f"{storm_q['queries']}"),
        ))
    rss = load(results, "rss")
    if rss:
        def mb(kb):
            return kb * 1024 / 1e6
        if rss.get("load_hwm_kb") is not None:
            peak = mb(rss["load_hwm_kb"])
            rows.append((
                "5",
                "server peak RSS under read load (VmHWM, reset after ingest, read after rows 1–4)",
                f"{peak:.1f} MB (RSS at the end {mb(rss['end_rss_kb']):.1f} MB)",
                "< 100 MB",
                verdict(peak < 100, f"{peak:.1f} MB"),
            ))
        peak = mb(rss["ingest_hwm_kb"])
        ingest = load(results, "ingest") or {}
        rows.append((
            "5",
            f"server peak RSS while ingesting the dataset ({ingest.get('spins', '?'):,} spins "
            f"in {ingest.get('seconds', '?')} s through `POST /events`)",
            f"{peak:.1f} MB",
            "< 100 MB",
            verdict(peak < 100, f"{peak:.1f} MB"),
        ))
    return rows


def store_rows(results):
    rows = []
    for path in sorted(results.glob("store-*.txt"), key=lambda p: int(p.stem.split("-")[1])):
        events = int(path.stem.split("-")[1])
        label = f"{events / 1e6:g}M"
        for line in path.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 5 or not re.fullmatch(r"[\d.]+", cells[2]):
                continue
            query, rows_n, p50, p95, top = cells
            rows.append((
                "6",
                f"embedded store, {label} spins: {query}",
                f"p50 {p50} ms · p95 {p95} ms · max {top} ms ({rows_n} rows)",
                "—",
                "—",
            ))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--command", required=True)
    args = parser.parse_args()
    settings = load(args.results, "settings")

    out = ["# Benchmark run", ""]
    out += [f"- {name}: {value}" for name, value in machine()]
    out += [
        f"- command: `{args.command}`",
        f"- dataset: {settings['spins']:,} spins (seed {settings['seed']}) over the last 3 days, "
        f"10,000 players, 10 games; embedded backend, cache TTL 1 s",
        "- rows 6: `cargo bench --bench store`, queries straight on the store (no HTTP, no cache), "
        "limit 100, 30 runs each, spins spread over a 30-day campaign",
        "",
        "| # | measurement | result | target | status |",
        "|---|---|---|---|---|",
    ]
    for row in http_rows(args.results, settings) + store_rows(args.results):
        out.append("| " + " | ".join(str(cell) for cell in row) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
