#!/usr/bin/env python3
"""Every framecast command line quoted in the README's (and docs/'s) code blocks parses: its
subcommand exists and each of its --flags is one that `framecast <subcommand> --help` lists.

usage: readme_commands_test.py FRAMECAST REPO_ROOT
"""
import glob
import os
import re
import shlex
import subprocess
import sys

fc, root = sys.argv[1], sys.argv[2]
docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
SUBS = {"ckpt": {"list", "verify", "inspect", "export"}, "runs": {"list", "timeline"}, "model": {"summary"},
        "data": {"prepare", "preview", "info", "verify"}, "config": {"check"},
        "bench": {"allreduce", "step", "ckpt"}, "completion": {"bash"}}
TOP = {"train", "eval", "sample", "model", "ckpt", "runs", "data", "config", "bench", "completion",
       "version", "help"}
help_cache = {}


def flags_of(words):
    key = tuple(words)
    if key not in help_cache:
        out = subprocess.run([fc] + list(words) + ["--help"], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            help_cache[key] = None
        else:
            text = out.stdout
            found = set(re.findall(r"--([a-z][a-z0-9-]*)", text))
            found |= {"no-" + f for f in found}
            help_cache[key] = found
    return help_cache[key]


def commands(path):
    """(line number, argv after the program name) of each framecast invocation in code blocks."""
    inside = False
    pending, start = "", 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        text = line.split(" #")[0].rstrip("\n")
        if pending:
            text = pending + " " + text.strip()
        else:
            start = n
        if text.rstrip().endswith("\\"):
            pending = text.rstrip()[:-1]
            continue
        pending = ""
        try:
            tokens = shlex.split(text, comments=False)
        except ValueError:
            continue
        for i, t in enumerate(tokens):
            prog = os.path.basename(t)
            if prog == "framecast" or (prog == "run.sh" and "launch" in t):
                rest = tokens[i + 1:]
                if prog == "run.sh":
                    while rest and rest[0] in ("-np", "--hostfile"):
                        rest = rest[2:]
                if rest and rest[0] in TOP:
                    yield start, rest
                break


failures, checked = [], 0
for doc in docs:
    for n, argv in commands(doc):
        where = f"{os.path.relpath(doc, root)}:{n}: framecast {' '.join(argv)}"
        words = [argv[0]]
        if argv[0] in SUBS and len(argv) > 1 and not argv[1].startswith("-"):
            if argv[1] not in SUBS[argv[0]] and not (argv[0] == "bench" and argv[1] == "step"):
                failures.append(f"{where}: unknown subcommand '{argv[1]}'")
                continue
            words.append(argv[1])
            if argv[:2] == ["bench", "step"] and len(argv) > 2 and not argv[2].startswith("-"):
                words.append(argv[2])  # the model step benchmark (its --help reads no file)
        if argv[0] == "eval" and len(argv) > 1 and argv[1] == "train-classifier":
            words.append("train-classifier")
        if argv[0] in ("version", "help"):
            checked += 1
            continue
        known = flags_of(words)
        if known is None:
            failures.append(f"{where}: `framecast {' '.join(words)} --help` failed")
            continue
        for t in argv[1:]:
            if t.startswith("--") and len(t) > 2:
                name = t[2:].split("=")[0]
                if re.fullmatch(r"[a-z][a-z0-9-]*", name) and name not in known:
                    failures.append(f"{where}: --{name} is not a flag of framecast {' '.join(words)}")
        checked += 1

for f in failures:
    print("FAIL:", f)
print(f"{checked} command line(s) from {len(docs)} document(s) checked, {len(failures)} failure(s)")
sys.exit(1 if failures or checked == 0 else 0)
