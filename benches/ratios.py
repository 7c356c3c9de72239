#!/usr/bin/env python3
"""Print the medians of the last `cargo bench --bench scope` run and their ratios
to the floor (two bare mprotect calls), all from that one run."""
import json, pathlib, sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
rows = {}
for est in root.glob("*/*/new/estimates.json"):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    rows[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]
floor = rows.get("scope/floor: two bare mprotect calls")
for name, ns in sorted(rows.items()):
    ratio = f"{ns / floor:6.3f}x floor" if floor and name.startswith("scope/") else ""
    print(f"{name:45} {ns:12.1f} ns  {ratio}")
