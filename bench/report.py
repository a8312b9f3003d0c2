"""The Markdown summary of one `python -m bench` run (the JSON file has everything)."""

from __future__ import annotations

from typing import Any


def _verdict(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return "skipped"
    if "error" in result:
        return "ERROR"
    if "pass" not in result:
        return "info"
    return "meets target" if result["pass"] else "MISSES target"


def _load_line(m: dict[str, Any]) -> str:
    """Other work on the machine, sampled while the bench was idle (bench/machine.py)."""
    before, after = m.get("otherWorkCoresBefore"), m.get("otherWorkCoresAfter")
    if before is None and after is None:
        return "Other work on the machine: not measured (no /proc/stat, or an old result)."
    verdict = (
        "**machine loaded**: figures are not comparable with a quiet run"
        if m.get("loaded")
        else "machine quiet"
    )
    return (
        f"Other work on the machine: {before} cores before the run, {after} after "
        f"(load average at end {m.get('loadAverageAtEnd')}) — {verdict}."
    )


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    r = doc["results"]
    lines = [
        "# ModelWire benchmark results",
        "",
        f"Commit `{m['commit']}`, {m['time']}, Python {m['python']}, {m['cpus']} CPUs, "
        f"load average at start {m['loadAverageAtStart']}; whole run {doc['totalSeconds']} s"
        + (" (--quick: fewer samples)" if doc.get("quick") else "")
        + ".",
        _load_line(m),
        "Reproduce: `.venv/bin/python -m bench` (or `bench/run`).",
        "",
        "| benchmark | figure | baseline (same run) | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]

    def row(name: str, figure: str, baseline: str, target: str, result: dict[str, Any]) -> None:
        lines.append(f"| {name} | {figure} | {baseline} | {target} | {_verdict(result)} |")

    if s := r.get("startup"):
        if "error" in s:
            row("startup", s["error"], "", "", s)
        else:
            med = s["medianSeconds"]
            row(
                "startup: spawn → initialize result",
                f"modelwire {med['modelwire'] * 1000:.0f} ms "
                f"(×{s['ratioModelwireToBarePygls']} of bare pygls)",
                f"bare pygls {med['barePygls'] * 1000:.0f} ms; `python -c pass` "
                f"{med['pythonPass'] * 1000:.0f} ms; modelwire to its first listProviders "
                f"answer {s.get('modelwireFirstRequestMedianSeconds', 0) * 1000:.0f} ms",
                "≤ 1.15× bare pygls",
                s,
            )
    if s := r.get("routing"):
        if "error" in s:
            row("routing overhead", s["error"], "", "", s)
        else:
            med = s["medianMs"]
            row(
                "routing: time to first delta (Ollama double)",
                f"sidecar {med['sidecarLocalhost']:.2f} ms (localhost), "
                f"{med['sidecar127']:.2f} ms (127.0.0.1)",
                f"direct httpx {med['directHttpx']:.2f} ms → overhead "
                f"+{s['overheadMs']['localhost']:.2f} ms",
                "≤ +2 ms median",
                s,
            )
    if s := r.get("llamacpp"):
        if "medianMs" in s:
            row(
                "routing: time to first delta (real llama.cpp, SmolLM2-135M)",
                f"sidecar {s['medianMs']['sidecar']:.1f} ms",
                f"direct httpx {s['medianMs']['directHttpx']:.1f} ms → {s['overheadMs']:+.1f} ms",
                "≤ +5 ms median",
                s,
            )
        else:
            row("routing vs llama.cpp", s.get("skipped") or s.get("error", ""), "", "", s)
    if s := r.get("cancel"):
        if "error" in s:
            row("cancel", s["error"], "", "", s)
        else:
            med, p90 = s["medianMs"], s["p90Ms"]
            row(
                "cancel: cancel sent → `end` event (Ollama double)",
                f"cancelRun {med['cancelRun']:.1f} ms (p90 {p90['cancelRun']:.1f}); "
                f"$/cancelRequest {med['cancelRequest']:.1f} ms (p90 {p90['cancelRequest']:.1f})",
                f"listProviders round trip {med['roundTrip']:.2f} ms",
                "p90 ≤ 200 ms",
                s,
            )
    if s := r.get("orchestration"):
        if "error" in s:
            row("orchestration", s["error"], "", "", s)
        else:
            med, p99, ratio = s["medianMs"], s["p99Ms"], s["ratioToHttpxRoundTrip"]
            row(
                "orchestration: tool call → next model request (Ollama double)",
                f"read_file 10 KB {med['readFile10KB']:.1f} ms (p99 {p99['readFile10KB']:.1f}, "
                f"×{ratio['readFile10KB']}); child run {med['childRun']:.1f} ms "
                f"(p99 {p99['childRun']:.1f}, ×{ratio['childRun']})",
                f"bare httpx chat round trip {med['directHttpx']:.2f} ms "
                f"(p99 {p99['directHttpx']:.1f})",
                "info (no target)",
                s,
            )
    if s := r.get("embedded"):
        if "medianFirstTokenMs" in s:
            m = s["medianFirstTokenMs"]
            row(
                "Embedded first token, Explain on samples/inventory.py (warmed sidecar)",
                f"sidecar {m['sidecarWarmed']:.0f} ms (cold {m['sidecarCold']:.0f} ms)",
                f"llama.cpp direct {m['direct']:.0f} ms → {s['warmedOverDirect']:.2f}×",
                f"≤ {s['target']}×",
                s,
            )
        else:
            row("Embedded first token", s.get("skipped") or s.get("error", ""), "", "", s)
    for key, label in (("throughputOllama", "Ollama NDJSON"), ("throughputOpenAI", "OpenAI SSE")):
        if s := r.get(key):
            if "error" in s:
                row(f"throughput ({label})", s["error"], "", "", s)
                continue
            row(
                f"throughput ({label}), fast double",
                f"{s['deltasPerSecond']:,} source deltas/s; "
                f"{s['sidecarCpuMicrosecondsPerDelta']} µs sidecar CPU per delta",
                f"{s['sourceDeltasDelivered']:,}/{s['sourceDeltasSent']:,} delivered in "
                f"{s['deltaEvents']:,} events ({s['sourceDeltasPerEvent']} per event)",
                "≥ 20,000/s",
                s,
            )
    for key in ("concurrency50", "concurrency200"):
        if s := r.get(key):
            if "error" in s:
                row(key, s["error"], "", "", s)
                continue
            lc = s["listConnectionsMs"]
            lag = s["eventLoopLagMs"]
            row(
                f"concurrency: {s['runs']} runs over {s['connections']} connections",
                f"listConnections while streaming p99 "
                f"{lag.get('steadyListConnectionsP99', float('nan')):.2f} ms "
                f"(whole run incl. the startRun burst: p50 {lc['loadedP50']:.2f} / "
                f"p99 {lc['loadedP99']:.2f} ms); "
                f"loop lag p50 {lag['lagP50']:.2f} / p99 {lag['lagP99']:.2f} ms "
                f"(steady p99 {lag.get('steadyLagP99', float('nan')):.2f} ms); "
                f"RSS peak {s['sidecarRssMb']['peak']} MB; {s['succeeded']}/{s['runs']} succeeded",
                f"idle: listConnections p50 {lc['idleP50']:.2f} ms; RSS "
                f"{s['sidecarRssMb']['idle']} MB",
                "listConnections p99 ≤ 10 ms while streaming; all succeed",
                s,
            )
    if s := r.get("processes"):
        if "error" in s:
            row("processes", s["error"], "", "", s)
        else:
            a = s["after"]
            before = s.get("before")
            row(
                "processes: listConnections while another process writes",
                f"idle p50 {a['idleMs']['p50']:.2f} / p99 {a['idleMs']['p99']:.2f} ms; "
                f"with a writer p50 {a['withWriterMs']['p50']:.2f} / "
                f"p99 {a['withWriterMs']['p99']:.2f} ms; sees its edits: {a['seesWriter']}",
                (
                    f"before ({s.get('beforeTree')}): idle p50 {before['idleMs']['p50']:.2f} / "
                    f"p99 {before['idleMs']['p99']:.2f} ms; with a writer p50 "
                    f"{before['withWriterMs']['p50']:.2f} / "
                    f"p99 {before['withWriterMs']['p99']:.2f} ms; sees its edits: "
                    f"{before['seesWriter']}"
                )
                if before
                else "(set MODELWIRE_BENCH_BASELINE for a before figure)",
                "p50 ≤ 1 ms idle and with a writer; the writer's edits listed",
                s,
            )
    if s := r.get("memory"):
        if "error" in s:
            row("memory", s["error"], "", "", s)
        else:
            samples = s["rssMbAfterRuns"]
            first_key, last_key = next(iter(samples)), list(samples)[-1]
            row(
                f"memory: {s['runs']} runs",
                f"RSS {samples[last_key]} MB after {last_key} runs "
                f"({s['growthAfterFirst100']} vs after {first_key}; "
                f"{s['slopeKbPerRun']} KB/run)",
                f"idle {s['idleRssMb']} MB",
                "≤ +10 %",
                s,
            )
    lines += ["", "Definitions and raw samples: the JSON file beside this one.", ""]
    return "\n".join(lines)
