#!/usr/bin/env python3
"""Turn the last `cargo bench --features peers --bench peers` run into BENCHMARKS.md and its chart.

    cargo bench --features peers --bench peers && python3 benches/report.py

Reads criterion's target/criterion/<group>/<function>/{new/estimates.json,
new/benchmark.json} (or $CARGO_TARGET_DIR/criterion), takes the median of each
bench, divides it by the floor of the same group, and rewrites

  * the part of BENCHMARKS.md between the `report:begin` and `report:end` markers
    (the prose around them is kept; the file is created if missing), and
  * benches/peers.svg, a log-scale bar chart of the ratios, drawn by hand
    (standard library only).

Options: --criterion DIR, --markdown FILE, --svg FILE, --check (print only).
"""
import argparse
import datetime
import html
import json
import math
import os
import pathlib
import platform
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The groups of benches/peers.rs, in the order the table and chart show them.
GROUPS = [
    "read scope",
    "write scope",
    "nested read scope",
    "read scope, 2 threads",
    "alloc+free 32 B",
    "alloc+free 4 KiB",
    "alloc+free 1 MiB",
]
# Implementations, in column order, with their chart colours.
IMPLS = [
    ("floor", "#9e9e9e"),
    ("siegel mprotect", "#1565c0"),
    ("siegel pku", "#42a5f5"),
    ("siegel mprotect pooled", "#00838f"),
    ("siegel pku pooled", "#4dd0e1"),
    ("secrets", "#ef6c00"),
    ("memsec", "#2e7d32"),
    ("libsodium", "#6a1b9a"),
    ("region", "#c62828"),
]
# Rows for benches that do not exist yet, so the table shows the gap.
PENDING = {}
BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"
# Benches whose median is uncertain, {(group, function): half-width of the 95% CI}.
NOISY = {}
# Results older than this before the newest one come from another run.
ONE_RUN_SECONDS = 20 * 60


def load(criterion):
    """{(group, function): (median_ns, mtime)} for the peers groups; fills NOISY
    with the benches whose median's 95% confidence interval is wider than ±10%."""
    rows = {}
    for est in criterion.glob("*/*/new/estimates.json"):
        meta = json.loads((est.parent / "benchmark.json").read_text())
        group, function = meta.get("group_id"), meta.get("function_id")
        if group in GROUPS:
            estimate = json.loads(est.read_text())["median"]
            median = estimate["point_estimate"]
            ci = estimate["confidence_interval"]
            spread = (ci["upper_bound"] - ci["lower_bound"]) / 2 / median
            if spread > 0.10:
                NOISY[group, function] = spread
            rows[(group, function)] = (median, est.stat().st_mtime)
    return rows


def one_run(rows):
    """Drop results left over from an older run; say what was dropped."""
    newest = max(mtime for _, mtime in rows.values())
    stale = sorted(k for k, (_, m) in rows.items() if newest - m > ONE_RUN_SECONDS)
    for key in stale:
        print(f"report: ignoring {key[0]}/{key[1]}: older than this run", file=sys.stderr)
        del rows[key]
    oldest = min(mtime for _, mtime in rows.values())
    return {k: ns for k, (ns, _) in rows.items()}, oldest, newest


def fmt_ns(ns):
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(r):
    if r < 0.1:
        return f"{r:.2g}×"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def lock_version(name):
    lock = (ROOT / "Cargo.lock").read_text()
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), lock)
    return m.group(1) if m else "?"


def machine():
    model = "unknown"
    hypervisor = "none"
    for line in command("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
        if line.startswith("Hypervisor vendor:"):
            hypervisor = line.split(":", 1)[1].strip()
    flags = pathlib.Path("/proc/cpuinfo").read_text().split("\nflags", 1)[-1].split("\n", 1)[0]
    pku = "yes" if " pku" in flags else "no (hidden by the CPU or hypervisor)"
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("CPU", f"{model}, {os.cpu_count()} logical cores"),
        ("hypervisor", hypervisor),
        ("PKU", pku),
        ("kernel", f"Linux {platform.release()}"),
        ("rustc", command("rustc", "--version")),
        ("criterion", lock_version("criterion")),
        ("load average (1/5/15 min) when the report ran", load),
    ]


def table(ratios, medians, present):
    head = "| bench | " + " | ".join(present) + " |"
    lines = [head, "|---" * (len(present) + 1) + "|"]
    for group in GROUPS:
        cells = []
        for impl in present:
            if (group, impl) in medians:
                cells.append(f"{fmt_ns(medians[group, impl])} · {fmt_ratio(ratios[group, impl])}")
            else:
                cells.append("—")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    for name, why in PENDING.items():
        lines.append(f"| {name} | " + " | ".join(["—"] * len(present)) + f" |")
    notes = [f"{name}: {why}." for name, why in PENDING.items()]
    noisy = [f"{g} / {i} (±{s:.0%})" for (g, i), s in sorted(NOISY.items()) if (g, i) in medians]
    if noisy:
        notes.append("Uncertain medians (95% confidence interval wider than ±10%): "
                     + ", ".join(noisy) + ".")
    return "\n".join(lines), notes


def contention(medians, present):
    """Per implementation: a read scope on two threads at once, over one thread."""
    lines = ["| | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    cells = []
    for impl in present:
        one, two = medians.get(("read scope", impl)), medians.get(("read scope, 2 threads", impl))
        cells.append(fmt_ratio(two / one) if one and two else "—")
    lines.append("| 2 threads ÷ 1 thread | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def svg_chart(ratios, medians, present, path):
    """A horizontal bar chart, one block per group: each bar runs from the floor
    (1×) to the ratio on a log scale, left when faster, right when slower."""
    colours = dict(IMPLS)
    bar, gap, head, left, right, top = 11, 10, 16, 150, 150, 60
    lo = min(0.1, min(ratios.values()))
    hi = max(10.0, max(ratios.values()))
    lo_exp, hi_exp = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    width = 900
    plot_w = width - left - right

    def x(r):
        return left + plot_w * (math.log10(r) - lo_exp) / (hi_exp - lo_exp)

    # One more block: each implementation's 2-thread read scope over its own
    # 1-thread read scope (1× = no contention).
    ratios = dict(ratios)
    medians = dict(medians)
    groups = list(GROUPS)
    slow = "2 threads ÷ 1 thread (read scope; 1× = no contention)"
    for impl in present:
        one, two = medians.get(("read scope", impl)), medians.get(("read scope, 2 threads", impl))
        if one and two:
            ratios[slow, impl] = two / one
            medians[slow, impl] = two
    groups.insert(groups.index("read scope, 2 threads") + 1, slow)
    blocks = [(g, [i for i in present if (g, i) in ratios]) for g in groups]
    height = top + sum(head + len(b) * bar + gap for _, b in blocks) + 50
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="20" y="20" font-size="14" font-weight="bold">'
        "siegel and peers: median time ÷ the floor of the same bench</text>",
        f'<text x="20" y="38" fill="#555">floor = bare mprotect pair (scopes) or '
        "bare mmap + mprotect + mlock + munmap (alloc+free); log scale, left of 1× is faster</text>",
    ]
    for e in range(lo_exp, hi_exp + 1):
        gx = x(10.0**e)
        colour = "#333" if e == 0 else "#ddd"
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" '
                   f'y2="{height - 40}" stroke="{colour}"/>')
        label = f"{10.0**e:g}×"
        out.append(f'<text x="{gx:.1f}" y="{height - 26}" text-anchor="middle">{label}</text>')
    y = top
    for group, impls in blocks:
        out.append(f'<text x="20" y="{y + 11}" font-weight="bold">{html.escape(group)}</text>')
        y += head
        for impl in impls:
            r = ratios[group, impl]
            x0, x1 = sorted((x(1.0), x(r)))
            label = f"{impl} {fmt_ratio(r)} ({fmt_ns(medians[group, impl])})"
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" '
                       f'height="{bar - 2}" fill="{colours[impl]}">'
                       f"<title>{html.escape(impl)}: {label}</title></rect>")
            if r >= 1:
                out.append(f'<text x="{x1 + 3:.1f}" y="{y + bar - 3}" fill="#333">'
                           f"{label}</text>")
            else:
                out.append(f'<text x="{x0 - 3:.1f}" y="{y + bar - 3}" fill="#333" '
                           f'text-anchor="end">{label}</text>')
            y += bar
        y += gap
    lx = 20
    for impl in present:
        out.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" '
                   f'fill="{colours[impl]}"/>')
        out.append(f'<text x="{lx + 14}" y="{height - 7}">{html.escape(impl)}</text>')
        lx += 14 + 7 * len(impl) + 16
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def markdown_block(ratios, medians, present, oldest, newest, svg_rel):
    started = datetime.datetime.fromtimestamp(oldest).strftime("%Y-%m-%d %H:%M")
    minutes = (newest - oldest) / 60
    main, notes = table(ratios, medians, present)
    parts = [
        BEGIN,
        "<!-- generated by benches/report.py from one `cargo bench --features peers --bench peers` run; "
        "edit the prose outside these markers only -->",
        "",
        f"One run, started {started}, results written over {minutes:.1f} min.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine()],
        f"| peers | secrets {lock_version('secrets')}, memsec {lock_version('memsec')}, "
        f"region {lock_version('region')}, libsodium "
        f"{command('pkg-config', '--modversion', 'libsodium')} (Debian) |",
        "",
        "Median per operation · ratio to the floor of the same row:",
        "",
        main,
        "",
        *[f"- {n}" for n in notes],
        "",
        "Contention: the read-scope median with two threads scoping at once, each on a "
        "region of its own, over the single-thread median:",
        "",
        contention(medians, present),
        "",
        f"![ratios to the floor]({svg_rel})",
        END,
    ]
    return "\n".join(parts)


def main():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--criterion", type=pathlib.Path, default=target / "criterion")
    ap.add_argument("--markdown", type=pathlib.Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--svg", type=pathlib.Path, default=ROOT / "benches" / "peers.svg")
    ap.add_argument("--check", action="store_true", help="print the table, write nothing")
    args = ap.parse_args()

    rows = load(args.criterion)
    if not rows:
        sys.exit(f"report: no peers results under {args.criterion}; "
                 "run `cargo bench --features peers --bench peers` first")
    medians, oldest, newest = one_run(rows)
    ratios = {}
    for (group, impl), ns in medians.items():
        floor = medians.get((group, "floor"))
        if floor:
            ratios[group, impl] = ns / floor
    present = [i for i, _ in IMPLS if any(k[1] == i for k in medians)]

    svg_rel = os.path.relpath(args.svg, args.markdown.parent)
    block = markdown_block(ratios, medians, present, oldest, newest, svg_rel)
    if args.check:
        print(block)
        return
    svg_chart(ratios, medians, present, args.svg)
    if args.markdown.exists():
        text = args.markdown.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + block + rest.split(END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\n" + block + "\n"
    args.markdown.write_text(text)
    print(f"report: wrote {args.markdown} and {args.svg}")


if __name__ == "__main__":
    main()
