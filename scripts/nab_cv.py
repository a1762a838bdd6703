#!/usr/bin/env python3
"""NAB: choose the likelihood detector's settings by cross-validation (issue 13).

NEEDS ../shared (the NAB files in ../shared/nab and the scorer ../shared/tools/nab_score.py)
and the release binary target/release/driftwatch (`cargo build --release` first).
Python 3 standard library only. Run from the repository root:

    python3 scripts/nab_cv.py [--grid full|small|smoke] [--work /tmp/nab_cv]

Leave-one-category-out: for each of NAB's labelled categories in turn, the setting with the
best standard-profile score on the OTHER categories is chosen (ties: the first in grid
order; the shipped defaults come first), then run on the held-out category alone. The four
held-out outputs go into one results folder, scored together in one run over all files,
beside the shipped defaults and the best setting on all files (both in-sample).
Every output is the engine's own alert decision (`--alerts`, scored at a fixed 0.99).

The detector starts afresh on every file, so one run per setting over all files serves the
selection on every fold; the held-out runs are separate runs over a tree holding only that
category, and are checked to be identical to the grid's files.
"""
import argparse
import filecmp
import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import time

THRESHOLD = 0.99
NAME = "driftwatch"

# The shipped defaults (src/detect/likelihood.rs), first value of each axis.
DEFAULTS = {"half_life": 300.0, "likelihood": 0.99999, "range_tolerance": 0.05,
            "refractory": 200, "hour_of_day": True}
GRIDS = {
    # 3 x 3 x 3 x 3 x 2 = 162 settings, about 8 minutes on 2 cores.
    "full": {"half_life": [300.0, 100.0, 1000.0],
             "likelihood": [0.99999, 0.9999, 0.999999],
             "range_tolerance": [0.05, 0.02, 0.1],
             "refractory": [200, 100, 400],
             "hour_of_day": [True, False]},
    # 3 x 3 x 2 x 2 x 1 = 36 settings.
    "small": {"half_life": [300.0, 100.0, 1000.0],
              "likelihood": [0.99999, 0.9999, 0.999999],
              "range_tolerance": [0.05, 0.02],
              "refractory": [200, 400],
              "hour_of_day": [True]},
    # 2 settings: a check that the script runs.
    "smoke": {"half_life": [300.0], "likelihood": [0.99999, 0.9999], "range_tolerance": [0.05],
              "refractory": [200], "hour_of_day": [True]},
}


def toml_of(s):
    def v(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        return repr(x)
    return "{ kind = \"likelihood\", " + ", ".join("%s = %s" % (k, v(x)) for k, x in s.items()) + " }"


def short(s):
    diff = ["%s=%s" % (k, str(x).lower() if isinstance(x, bool) else (int(x) if k == "half_life" else x))
            for k, x in s.items() if x != DEFAULTS[k]]
    return ", ".join(diff) or "defaults"


def make_root(path, nab_root, cats, labels):
    """A NAB root holding only `cats`: data/<cat> symlinks and filtered labels."""
    os.makedirs(os.path.join(path, "data"))
    os.makedirs(os.path.join(path, "labels"))
    for c in cats:
        os.symlink(os.path.abspath(os.path.join(nab_root, "data", c)), os.path.join(path, "data", c))
    sub = {k: v for k, v in labels.items() if k.split("/", 1)[0] in cats}
    with open(os.path.join(path, "labels", "combined_windows.json"), "w") as f:
        json.dump(sub, f, indent=1, sort_keys=True)
    return path


def run_detector(binary, data_dir, out, setting):
    cmd = [binary, "score", data_dir, "-o", out, "--name", NAME, "--alerts"]
    if setting is not None:
        cmd += ["--detector", toml_of(setting)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("driftwatch score failed: %s\n%s" % (" ".join(cmd), r.stderr))
    return r.stdout.strip()


def score_cli(scorer, root, results):
    cmd = [sys.executable, scorer, "--nab-root", root, "--results-dir", results,
           "--detector", NAME, "--threshold", str(THRESHOLD)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figs = {}
    for line in out.splitlines():
        p = line.split()
        if p and p[0] in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
            tp, fp = p[5].split("/")[:2]
            figs[p[0]] = float(p[1])
            figs["tp_fp"] = "%s / %s" % (tp, fp)
    return figs, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nab-root", default="../shared/nab")
    ap.add_argument("--scorer", default="../shared/tools/nab_score.py")
    ap.add_argument("--bin", default="target/release/driftwatch")
    ap.add_argument("--work", default="/tmp/nab_cv", help="scratch folder (emptied first)")
    ap.add_argument("--grid", choices=sorted(GRIDS), default="full")
    a = ap.parse_args()
    for p in (a.nab_root, a.scorer, a.bin):
        if not os.path.exists(p):
            sys.exit("missing %s (needs ../shared and the release binary)" % p)
    t0 = time.time()
    spec = importlib.util.spec_from_file_location("nab_score", a.scorer)
    ns = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ns)
    cost = ns.DEFAULT_PROFILES["standard"]["CostMatrix"]

    with open(os.path.join(a.nab_root, "labels", "combined_windows.json")) as f:
        labels = json.load(f)
    cats = sorted({k.split("/", 1)[0] for k in labels})
    if os.path.exists(a.work):
        if not os.path.isdir(os.path.join(a.work, "roots")):
            sys.exit("%s exists and is not an earlier nab_cv scratch folder; choose another --work" % a.work)
        shutil.rmtree(a.work)
    roots = {"all": make_root(os.path.join(a.work, "roots", "all"), a.nab_root, cats, labels)}
    for c in cats:
        roots["train-" + c] = make_root(os.path.join(a.work, "roots", "without-" + c), a.nab_root,
                                        [x for x in cats if x != c], labels)
        roots["only-" + c] = make_root(os.path.join(a.work, "roots", "only-" + c), a.nab_root, [c], labels)
    corpora = {k: ns.Corpus(roots[k]) for k in ["all"] + ["train-" + c for c in cats]}
    null = {k: ns.sweep(c, ns.null_scores(c), cost)[0]["score"] for k, c in corpora.items()}

    def standard(key, scores):
        c = corpora[key]
        best, _ = ns.sweep(c, scores, cost, THRESHOLD)
        return 100.0 * (best["score"] - null[key]) / (c.n_windows * cost["tpWeight"] - null[key])

    grid = GRIDS[a.grid]
    settings = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    print("grid %s: %d settings over %d categories (%s)" % (a.grid, len(settings), len(cats), ", ".join(cats)))
    table = []   # per setting: {fold key: standard score}
    for i, s in enumerate(settings):
        out = os.path.join(a.work, "grid", "%03d" % i)
        run_detector(a.bin, os.path.join(roots["all"], "data"), out, s)
        scores, missing = ns.load_results(corpora["all"], out, NAME)
        if missing:
            sys.exit("missing outputs, e.g. %s" % missing[0])
        table.append({k: standard(k, scores) for k in corpora})
        sys.stderr.write("\r%d/%d settings (%.0f s)" % (i + 1, len(settings), time.time() - t0))
    sys.stderr.write("\n")

    def best_on(key):   # first maximum in grid order
        return max(range(len(settings)), key=lambda i: (table[i][key], -i))

    cv = os.path.join(a.work, "cv")
    print("\nper fold (standard profile; train = the other categories, in-sample for the choice):")
    print("| held out | chosen setting | train score, chosen | train score, defaults |")
    print("| --- | --- | --- | --- |")
    for c in cats:
        i = best_on("train-" + c)
        print("| %s | %s | %.2f | %.2f |" % (c, short(settings[i]), table[i]["train-" + c], table[0]["train-" + c]))
        run_detector(a.bin, os.path.join(roots["only-" + c], "data"), cv, settings[i])
        for fn in sorted(os.listdir(os.path.join(cv, c))):
            if not filecmp.cmp(os.path.join(cv, c, fn), os.path.join(a.work, "grid", "%03d" % i, c, fn), shallow=False):
                sys.exit("held-out output %s/%s differs from the grid run of the same setting" % (c, fn))

    defaults_dir = os.path.join(a.work, "defaults")
    run_detector(a.bin, os.path.join(roots["all"], "data"), defaults_dir, None)   # as shipped: no --detector
    b = best_on("all")
    rows = [("shipped defaults (in-sample)", defaults_dir),
            ("best on all %d files: %s (in-sample)" % (len(corpora["all"].files), short(settings[b])),
             os.path.join(a.work, "grid", "%03d" % b)),
            ("cross-validated, leave one category out (held-out)", cv)]
    print("\nall %d files scored in one run each, fixed threshold %g:" % (len(corpora["all"].files), THRESHOLD))
    print("| settings | standard | low FP | low FN | TP / FP rows |")
    print("| --- | --- | --- | --- | --- |")
    raw, by_cat = [], []
    for label, d in rows:
        scores, _ = ns.load_results(corpora["all"], d, NAME)
        _, per_file = ns.sweep(corpora["all"], scores, cost, THRESHOLD)
        by_cat.append([sum(v["score"] for k, v in per_file.items() if k.startswith(c + "/")) for c in cats])
        figs, out = score_cli(a.scorer, roots["all"], d)
        raw.append("== %s: %s\n%s" % (label, d, out))
        print("| %s | %.2f | %.2f | %.2f | %s |" % (label, figs["standard"], figs["reward_low_FP_rate"],
                                                   figs["reward_low_FN_rate"], figs["tp_fp"]))
    print("\nraw standard score by category (%s):" % ", ".join(cats))
    for (label, _), r in zip(rows, by_cat):
        print("  %-55s %s" % (label, "  ".join("%8.3f" % x for x in r)))
    print("\nscorer output:\n" + "\n".join(raw))
    print("best on all: %s" % toml_of(settings[b]))
    print("run time %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
