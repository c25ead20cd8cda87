#!/usr/bin/env python3
"""Re-score one or more `focalscope bench` cases.csv files together.

    python3 scripts/bench_cases.py [--baseline NAME] FILE[:OLD=NEW,...] ...

Why this exists: bench.md compares rows of one run only. Comparing runs made separately (one process per dimension on
a 2-core machine, or a post-trained model against the untuned baseline) needs the rows merged on (setting, seed) and
compared pair by pair: the same case with the same seed starts from the same noise, so a paired difference is far less
noisy than two independent means. `:OLD=NEW` renames a file's settings (e.g. `:baseline=post-training alone`).

Prints, per setting, the Table 1 row (mean ± population std over seeds; Total = mean of Subject, Background and the
three pass rates, as bench computes it) and against the baseline the paired per-seed Total delta (mean ± std) and the
(case, seed) pairs gained / lost. Scores must agree with bench.md for a single file (they do: same definitions).
"""
import csv
import statistics
import sys
from collections import defaultdict

DIMENSIONS = ("dynamic_attributes", "motion", "interaction")


def fail(msg):
    print(f"bench_cases: {msg}", file=sys.stderr)
    sys.exit(1)


def load(args):
    rows = defaultdict(dict)  # setting -> (case, seed) -> row
    for arg in args:
        path, _, renames = arg.partition(":")
        pieces = [r for r in renames.split(",") if r]
        if any("=" not in r for r in pieces):
            fail(f"{path}: renames must read OLD=NEW,... (got '{renames}')")
        rename = dict(r.split("=", 1) for r in pieces)
        seen = set()
        try:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                need = {"setting", "seed", "case", "dimension", "pass", "i2v_subject", "i2v_background"}
                if not reader.fieldnames or not need <= set(reader.fieldnames):
                    fail(f"{path}: not a bench cases.csv (needs columns {', '.join(sorted(need))})")
                for r in reader:
                    seen.add(r["setting"])
                    setting = rename.get(r["setting"], r["setting"])
                    key = (r["case"], int(r["seed"]))
                    # Parse the numbers once, here, so a malformed value is reported with its file.
                    r["pass"], r["i2v_subject"], r["i2v_background"] = (
                        int(r["pass"]), float(r["i2v_subject"]), float(r["i2v_background"]))
                    if key in rows[setting]:
                        fail(f"{path}: setting '{setting}' has case {key[0]} seed {key[1]} twice (rename one file's rows)")
                    rows[setting][key] = r
        except OSError as e:
            fail(f"{path}: cannot read ({e.strerror})")
        except (ValueError, TypeError) as e:
            fail(f"{path}: malformed row ({e})")
        if set(rename) - seen:
            fail(f"{path}: no setting named {', '.join(sorted(set(rename) - seen))} to rename")
    if not rows:
        fail("no rows: give at least one cases.csv")
    return rows


def per_seed(cases):
    by_seed = defaultdict(list)
    for (_, seed), r in cases.items():
        by_seed[seed].append(r)
    out = {}
    for seed, cs in by_seed.items():
        v = {"subject": statistics.fmean(c["i2v_subject"] for c in cs),
             "background": statistics.fmean(c["i2v_background"] for c in cs)}
        for d in DIMENSIONS:
            passes = [c["pass"] for c in cs if c["dimension"] == d]
            v[d] = statistics.fmean(passes) if passes else float("nan")
        v["total"] = statistics.fmean(v[k] for k in ("subject", "background") + DIMENSIONS)
        out[seed] = v
    return out


def main(argv):
    baseline = "baseline"
    if len(argv) >= 2 and argv[0] == "--baseline":
        baseline, argv = argv[1], argv[2:]
    if not argv or argv[0].startswith("-"):
        fail("usage: bench_cases.py [--baseline NAME] FILE[:OLD=NEW,...] ...")
    rows = load(argv)
    cols = ("subject", "background") + DIMENSIONS + ("total",)
    print("| Setting | seeds | cases | " + " | ".join(cols) + " |")
    scores = {}
    for setting, cases in rows.items():
        s = scores[setting] = per_seed(cases)
        cells = [f"{statistics.fmean(v[c] for v in s.values()):.4f} ± {statistics.pstdev([v[c] for v in s.values()]):.4f}"
                 for c in cols]
        print(f"| {setting} | {len(s)} | {len(cases) // max(len(s), 1)} | " + " | ".join(cells) + " |")
    if baseline not in rows:
        return
    base = rows[baseline]
    print(f"\npaired against '{baseline}':")
    for setting, cases in rows.items():
        if setting == baseline:
            continue
        common = [k for k in cases if k in base]
        if not common:
            print(f"  {setting}: no (case, seed) in common with the baseline")
            continue
        # Score both on exactly the shared (case, seed) pairs, so a partial run is never compared with a whole one.
        mine, theirs = per_seed({k: cases[k] for k in common}), per_seed({k: base[k] for k in common})
        deltas = [mine[sd]["total"] - theirs[sd]["total"] for sd in sorted(mine)]
        gained = sum(1 for k in common if cases[k]["pass"] and not base[k]["pass"])
        lost = sum(1 for k in common if base[k]["pass"] and not cases[k]["pass"])
        print(f"  {setting}: Total {statistics.fmean(deltas):+.4f} ± {statistics.pstdev(deltas):.4f} over {len(deltas)} seeds "
              f"(per seed {', '.join(f'{d:+.4f}' for d in deltas)}); pairs gained {gained} / lost {lost} of {len(common)}")


if __name__ == "__main__":
    main(sys.argv[1:])
