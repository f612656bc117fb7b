#!/usr/bin/env python3
"""Prints the one table of `make bench` (markdown) from target/bench/*.json and the
criterion estimates in target/criterion/, with the floor's figures (floor.json, from
examples/floor.rs) beside ours. Usage: benches/report.py ROOT"""

import json
import os
import platform
import subprocess
import sys
import time

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
OUT = os.path.join(ROOT, "target", "bench")
CRIT = os.path.join(ROOT, "target", "criterion")
# Targets are read in decimal units, the stricter reading: 10 MB = 10,000,000 B.
MB = 1_000_000


def load(name):
    try:
        with open(os.path.join(OUT, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def crit_us(group, bench):
    """Criterion's median estimate in µs, or None."""
    path = os.path.join(CRIT, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] / 1000.0
    except (OSError, ValueError, KeyError):
        return None


def machine():
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPUs ({model}), {mem} RAM, {platform.system()} {platform.release()}"


rows = []


def row(what, target="", one="", four="", verdict=""):
    rows.append((what, target, one, four, verdict))


def section(title):
    rows.append((f"**{title}**", "", "", "", ""))


def verdict(ok):
    if ok is None:
        return ""
    return "met" if ok else "**MISSED**"


def verdicts(ok1, ok4, n4):
    """One verdict per column: the single instance, and every one of the n4 at once."""
    if ok4 is None:
        return verdict(ok1)
    if ok1 is None:
        return ""
    if ok1 == ok4:
        return verdict(ok1)
    return f"{verdict(ok1)} (1) · {verdict(ok4)} ({n4})"


def f3(x):
    return "—" if x is None else f"{x:.3f}"


def f1(x):
    return "—" if x is None else f"{x:.1f}"


# ---- no I/O -----------------------------------------------------------------------------
if os.path.isdir(CRIT):
    section("CPU, no I/O (criterion median, µs per event; benches/protocol.rs)")
    names = {
        "create": "create (events/after-create-official-account.json)",
        "add100": "add of 100 subscribers",
        "reject": "rejected: SdkAppid not configured (403)",
        "create_signed": "create with a webhook token (signature checked)",
    }
    for key, label in names.items():
        parse, admit, handle = crit_us("parse", key), crit_us("admit", key), crit_us("handle", key)
        parts = []
        if parse is not None:
            parts.append(f"parse event JSON {f1(parse)}")
        if admit is not None:
            parts.append(f"admit + typed event {f1(admit)}")
        if handle is not None:
            parts.append(f"App::handle, mocked DynamoDB {f1(handle)}")
        total = (parse or 0) + (handle or 0) if handle is not None else None
        tgt = {"create": "≤ 80 (whole process)", "add100": "≤ 400 (whole process)"}.get(key, "")
        if total is not None:
            parts.append(f"**parse + handle {f1(total)}**")
        row(label, tgt, "; ".join(parts))

# ---- end to end -------------------------------------------------------------------------
lam = load("lambda.json")
if lam:
    runs = {r["instances"]: r["per_instance"] for r in lam["runs"]}
    one = (runs.get(1) or [None])[0]
    four = runs.get(4) or []
    n_four = len(four)
    many = max(runs) if runs else None
    if many and many != 1:
        four = runs[many]

    def phase(inst, name):
        for p in inst["phases"]:
            if p["name"] == name:
                return p
        return None

    def agg(insts, name, key, how=max):
        vals = [phase(i, name)[key] for i in insts if phase(i, name)]
        return how(vals) if vals else None

    def mean(v):
        return sum(v) / len(v)

    s = lam["settings"]
    section(
        f"Release binary via the Lambda Runtime API, local DynamoDB: moto (benches/lambda.rs); "
        f"log level {lam['log_level']}; columns: 1 instance | {many} instances at once"
    )
    cold = lam["cold"]
    ready = cold["ready_ms"]["median"] if cold["ready_ms"] else None
    first = cold["first_reply_ms"]["median"] if cold["first_reply_ms"] else None
    four_ready = max(i["ready_ms"] for i in four) if four else None
    four_first = max(i["first_reply_ms"] for i in four) if four else None
    row(
        f"ready: process start → first GET /next (ms; median of {cold['runs']} starts | slowest of {many})",
        "≤ 5",
        f"{f3(ready)} (min {f3(cold['ready_ms']['min'])}, max {f3(cold['ready_ms']['max'])})",
        f3(four_ready),
        verdicts(None if ready is None else ready <= 5, None if four_ready is None else four_ready <= 5, many),
    )
    row(
        "first reply: process start → first response posted, a create (ms)",
        "≤ 10",
        f"{f3(first)} (min {f3(cold['first_reply_ms']['min'])}, max {f3(cold['first_reply_ms']['max'])})",
        f3(four_first),
        verdicts(None if first is None else first <= 10, None if four_first is None else four_first <= 10, many),
    )
    # Null when the driver's own measurements were skipped (BENCH_IN_PROCESS=0).
    bare = lam.get("bare_getitem_before")
    bare_after = lam.get("bare_getitem_after") or {}
    if bare:
        row(
            f"bare DynamoDB round trip: GetItem of a missing key, the function's SDK config, "
            f"in the driver (ms p50 / p99; n={bare['n']}; before | after the runs)",
            "",
            f"{f3(bare['p50_ms'])} / {f3(bare['p99_ms'])}",
            f"{f3(bare_after.get('p50_ms'))} / {f3(bare_after.get('p99_ms'))}",
        )
    ipc, ipa = lam.get("in_process_create") or {}, lam.get("in_process_add100") or {}
    if ipc:
        row(
            "in-process: App::handle in the driver process, same local DynamoDB "
            "(ms p50; create | add100)",
            "",
            f3(ipc["p50_ms"]),
            f3(ipa.get("p50_ms")),
        )
    for name, label in [
        ("create", f"warm create, distinct accounts (n={s['creates']}/instance): ms p50 / p99"),
        ("add100", f"warm add of 100 subscribers (n={s['add100']}/instance): ms p50 / p99"),
        ("mix", "warm mix, creates and adds of 2 (to 10 000 events): ms p50 / p99"),
    ]:
        p1 = phase(one, name) if one else None
        txt1 = f"{f3(p1['p50_ms'])} / {f3(p1['p99_ms'])}" if p1 else "—"
        if p1 and p1.get("ddb_requests_per_event") is not None:
            txt1 += (f" ({p1['ddb_requests_per_event']:.2f} DynamoDB requests, "
                     f"{p1['log_lines_per_event']:.1f} log lines per event)")
        txt4 = (
            f"{f3(agg(four, name, 'p50_ms', mean))} / {f3(agg(four, name, 'p99_ms', max))}"
            if four
            else "—"
        )
        row(label, "", txt1, txt4 + (" (mean p50 / worst p99)" if four else ""))
    p1 = phase(one, "create") if one else None
    if p1 and bare and ipc:
        gap = p1["p50_ms"] - bare["p50_ms"]
        gap_floor = p1["p50_ms"] - ipc["p50_ms"]
        gap4 = (agg(four, "create", "p50_ms", mean) - bare["p50_ms"]) if four else None
        reqs = p1.get("ddb_requests_per_event")
        row(
            "warm create p50 − bare round trip p50 (ms)"
            + (f"; a create makes {reqs:.2f} DynamoDB requests" if reqs is not None else ""),
            "≤ 0.1",
            f"{f3(gap)} (− in-process: {f3(gap_floor)})",
            f3(gap4),
            verdicts(gap <= 0.1, None if gap4 is None else gap4 <= 0.1, many),
        )
    for name, label, target in [
        ("create", "CPU per warm create, whole process, /proc utime+stime (µs)", 80),
        ("add100", "CPU per warm add of 100 subscribers, whole process (µs)", 400),
        ("mix", "CPU per warm mix event (µs)", None),
    ]:
        p1 = phase(one, name) if one else None
        c1 = p1["cpu_us_per_event"] if p1 else None
        c4 = agg(four, name, "cpu_us_per_event", mean) if four else None
        ok = ""
        if target is not None and c1 is not None:
            ok = verdicts(c1 <= target, None if c4 is None else c4 <= target, many)
        split = ""
        if p1 and "cpu_user_us_per_event" in p1:
            split = f" (user {f1(p1['cpu_user_us_per_event'])} + sys {f1(p1['cpu_sys_us_per_event'])})"
        row(
            label,
            f"≤ {target}" if target else "",
            f1(c1) + split,
            f1(c4) + (" (mean)" if four else ""),
            ok,
        )
    if ipc.get("cpu_us_per_event") is not None:
        row(
            "CPU of App::handle in the driver (one thread, real HTTP to the local DynamoDB (moto), "
            "no Lambda runtime, no log output): µs per create | per add100",
            "",
            f1(ipc["cpu_us_per_event"]),
            f1(ipa.get("cpu_us_per_event")),
        )
    if lam.get("handle_future_bytes"):
        row("size of the future App::handle returns (bytes; moved by value per invocation)",
            "", str(lam["handle_future_bytes"]))
    hwm1 = one["vmhwm_kb"] if one else None
    hwm4 = max(i["vmhwm_kb"] for i in four) if four else None
    row(
        f"peak RSS (VmHWM) after {one['events'] if one else '?'} events (MB; {many}: the largest)",
        "≤ 10",
        f"{hwm1 * 1024 / MB:.2f}" if hwm1 else "—",
        f"{hwm4 * 1024 / MB:.2f}" if hwm4 else "—",
        verdicts(None if hwm1 is None else hwm1 * 1024 <= 10 * MB, None if hwm4 is None else hwm4 * 1024 <= 10 * MB, many),
    )
    if one:
        row(
            "threads of the process at the end | log lines written (1 instance)",
            "",
            str(one["threads"]),
            str(one["log_lines"]),
        )

# ---- the floor --------------------------------------------------------------------------
flo = load("floor.json")
if lam and flo:
    fone = next((r["per_instance"][0] for r in flo["runs"] if r["instances"] == 1), None)

    def times(ours, floor, bold=False):
        if ours is None or not floor:
            return "—"
        return f"**× {ours / floor:.2f}**" if bold else f"× {ours / floor:.2f}"

    fcold = flo["cold"]
    fready = fcold["ready_ms"]["median"] if fcold["ready_ms"] else None
    ffirst = fcold["first_reply_ms"]["median"] if fcold["first_reply_ms"] else None
    section(
        "The floor (examples/floor.rs): same lambda_runtime, SDK configuration and allocator, "
        "the one conditional UpdateItem of a create per invocation and the same reply; no "
        "protocol, logging or metrics. 1 instance, same run; columns: the floor | ours × floor"
    )
    row(f"ready (ms; median of {fcold['runs']} starts)", "", f3(fready), times(ready, fready, True))
    row("first reply, a create (ms)", "", f3(ffirst), times(first, ffirst))
    fc = phase(fone, "create") if fone else None
    oc = phase(one, "create") if one else None
    row(
        "CPU per warm create, whole process (µs)",
        "",
        f1(fc["cpu_us_per_event"]) + f" (user {f1(fc['cpu_user_us_per_event'])} + sys "
        f"{f1(fc['cpu_sys_us_per_event'])})" if fc else "—",
        times(oc["cpu_us_per_event"] if oc else None, fc["cpu_us_per_event"] if fc else None, True),
    )
    row(
        "warm create p50 (ms)",
        "",
        f3(fc["p50_ms"]) if fc else "—",
        times(oc["p50_ms"] if oc else None, fc["p50_ms"] if fc else None),
    )
    fa = phase(fone, "add100") if fone else None
    oa = phase(one, "add100") if one else None
    row(
        "CPU per warm add of 100 (µs; the floor makes its one UpdateItem whatever the event)",
        "",
        f1(fa["cpu_us_per_event"]) if fa else "—",
        times(oa["cpu_us_per_event"] if oa else None, fa["cpu_us_per_event"] if fa else None),
    )
    fh = fone["vmhwm_kb"] if fone else None
    row(
        f"peak RSS (VmHWM) after {fone['events'] if fone else '?'} events (MB)",
        "",
        f"{fh * 1024 / MB:.2f}" if fh else "—",
        times(one["vmhwm_kb"] if one else None, fh),
    )
    fb = flo.get("binary_bytes")
    row(
        "release binary, x86-64 (MB)",
        "",
        f"{fb / MB:.2f}" if fb else "—",
        times(lam.get("binary_bytes"), fb),
    )

# ---- sizes ------------------------------------------------------------------------------
sizes = load("sizes.json")
if sizes:
    section("Artifact")
    row(
        "release binary target/release/oa-webhook, x86-64 (MB) | zipped (MB)",
        "",
        f"{sizes['binary_bytes'] / MB:.2f}",
        f"{sizes['binary_zip_bytes'] / MB:.2f}",
    )
    zb = sizes.get("zip_bytes")
    arm = "arm64" in (sizes.get("zip_note") or "") and "ONLY" not in (sizes.get("zip_note") or "")
    row(
        f"deployable zip: {sizes.get('zip_note')} (MB zipped | unpacked)",
        "≤ 3.5 (arm64)",
        f"{zb / MB:.2f}" if zb else "—",
        f"{sizes['zip_unpacked_bytes'] / MB:.2f}" if zb else "—",
        verdict((zb <= 3.5 * MB) if (zb and arm) else None)
        + ("" if arm or not zb else " (not arm64: not judged)"),
    )

print(f"### oa-webhook `make bench` — {time.strftime('%Y-%m-%d %H:%M %Z')}")
print()
print(f"Machine: {machine()}.")
print()
print("| What | Target | 1 instance | 4 instances / other | Verdict |")
print("| --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(x.replace("|", "\\|") if i == 0 else x for i, x in enumerate(r)) + " |")
