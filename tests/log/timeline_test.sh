#!/usr/bin/env bash
# logging.timeline on a real 2-rank CPU run (tiny hvrnn, 4 steps, a checkpoint every 2): each
# rank's RUN_DIR/timeline/rank<r>.json is Chrome trace-event JSON (every event has ph, ts, dur,
# pid, tid; pid = rank) holding the spans the docs promise; `framecast runs timeline` merges them
# (both pids, one document) and prints the step shares; timeline_max_events bounds the file; a
# damaged or special rank file is a one-line error naming it, without hanging; off, no timeline/.
set -u
mpirun="$1"; fc="$2"; root="$3"; work="$4/timeline"; py="${5:-python3}"
rm -rf "$work"; mkdir -p "$work"
cfg="$root/configs/hvrnn_smmnist_tiny.pbtxt"
common=(--set data.global_batch=4 --set stages[0].steps=4 --set checkpoint.every_steps=2)
fail=0
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${common[@]}" --set output_dir="$work/run" \
  --set logging.timeline=true > "$work/train.log" 2>&1 || { echo "FAIL: train"; tail -20 "$work/train.log"; exit 1; }
"$py" - "$work/run/timeline" <<'PY' || fail=1
import json, os, sys
d = sys.argv[1]
want = {"step", "guard", "data wait", "forward", "backward", "all-reduce wait", "all-reduce",
        "optimizer", "checkpoint", "checkpoint snapshot", "checkpoint write"}
bad = 0
for r in (0, 1):
    doc = json.load(open(os.path.join(d, f"rank{r}.json")))
    names, steps = set(), 0
    for e in doc["traceEvents"]:
        for k in ("name", "ph", "pid", "tid"):
            if k not in e:
                print(f"FAIL: rank {r}: event without {k}: {e}"); bad = 1
        if e["ph"] == "X":
            if not (isinstance(e.get("ts"), int) and isinstance(e.get("dur"), int) and e["dur"] >= 0):
                print(f"FAIL: rank {r}: bad ts/dur: {e}"); bad = 1
            if e["pid"] != r:
                print(f"FAIL: rank {r}: pid {e['pid']}"); bad = 1
            names.add(e["name"])
            steps += e["name"] == "step"
            if e["name"] == "all-reduce" and (e["tid"] < 10 or e["args"]["bytes"] <= 0):
                print(f"FAIL: rank {r}: all-reduce off its bucket track: {e}"); bad = 1
        elif e["ph"] != "M":
            print(f"FAIL: rank {r}: unexpected ph {e['ph']}"); bad = 1
    if not want <= names:
        print(f"FAIL: rank {r}: missing spans {sorted(want - names)}"); bad = 1
    if steps != 4:
        print(f"FAIL: rank {r}: {steps} step spans, want 4"); bad = 1
    print(f"ok: rank {r}: {len(doc['traceEvents'])} events, spans {sorted(names)}")
sys.exit(bad)
PY
"$fc" runs timeline "$work/run" > "$work/merge.log" 2>&1 || { echo "FAIL: runs timeline"; cat "$work/merge.log"; fail=1; }
grep -q "rank 1: 4 steps" "$work/merge.log" && grep -q "backward .*%" "$work/merge.log" ||
  { echo "FAIL: no share table"; cat "$work/merge.log"; fail=1; }
"$py" -c '
import json, sys
doc = json.load(open(sys.argv[1]))
pids = {e["pid"] for e in doc["traceEvents"]}
assert pids == {0, 1}, pids
assert all(e["ts"] >= 0 for e in doc["traceEvents"] if e["ph"] == "X")
print("ok: merged", len(doc["traceEvents"]), "events of ranks", sorted(pids))
' "$work/run/timeline/merged.json" || { echo "FAIL: merged file"; fail=1; }

# Bounded: 40 events kept per rank, the rest counted as dropped.
"$fc" train "$cfg" "${common[@]}" --set output_dir="$work/small" --set logging.timeline=true \
  --set logging.timeline_max_events=40 > "$work/small.log" 2>&1 || { echo "FAIL: bounded train"; tail "$work/small.log"; fail=1; }
"$py" -c '
import json, sys
doc = json.load(open(sys.argv[1]))
x = [e for e in doc["traceEvents"] if e["ph"] == "X"]
assert len(x) == 40 and doc["otherData"]["dropped_events"] > 0, (len(x), doc["otherData"])
print("ok: bounded to", len(x), "events,", doc["otherData"]["dropped_events"], "dropped")
' "$work/small/timeline/rank0.json" || { echo "FAIL: bound"; fail=1; }

"$fc" runs timeline "$work/small" > "$work/small-merge.log" 2>&1 && grep -q "older events were dropped" "$work/small-merge.log" ||
  { echo "FAIL: the merge does not say events were dropped"; cat "$work/small-merge.log"; fail=1; }

# Off (the default): no timeline directory.
"$fc" train "$cfg" "${common[@]}" --set output_dir="$work/off" > "$work/off.log" 2>&1 || { echo "FAIL: train off"; fail=1; }
[ ! -e "$work/off/timeline" ] || { echo "FAIL: timeline written while off"; fail=1; }

# Bad input: a config value out of range, a truncated rank file, a FIFO in place of one.
if "$fc" config check "$cfg" --set logging.timeline_max_events=-3 > "$work/cfg.log" 2>&1; then
  echo "FAIL: negative timeline_max_events accepted"; fail=1
fi
grep -q "logging.timeline_max_events" "$work/cfg.log" || { echo "FAIL: config error does not name the field"; cat "$work/cfg.log"; fail=1; }
cp -r "$work/run" "$work/damaged"
head -c 300 "$work/run/timeline/rank1.json" > "$work/damaged/timeline/rank1.json"
if "$fc" runs timeline "$work/damaged" > "$work/damaged.log" 2>&1; then echo "FAIL: truncated file merged"; fail=1; fi
[ "$(wc -l < "$work/damaged.log")" -eq 1 ] && grep -q "rank1.json" "$work/damaged.log" ||
  { echo "FAIL: truncated file error:"; cat "$work/damaged.log"; fail=1; }
# Valid JSON, lying fields: a pid that is not the file's rank, a negative ts, otherData.rank.
for bad in 'e["pid"] = 5' 'e["ts"] = -1e18' 'doc["otherData"]["rank"] = 0'; do
  "$py" - "$work/run/timeline/rank1.json" "$work/damaged/timeline/rank1.json" "$bad" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
e = next(e for e in doc["traceEvents"] if e["ph"] == "X")
exec(sys.argv[3])
json.dump(doc, open(sys.argv[2], "w"))
PY
  if "$fc" runs timeline "$work/damaged" > "$work/lie.log" 2>&1; then echo "FAIL: merged a file with $bad"; fail=1; fi
  [ "$(wc -l < "$work/lie.log")" -eq 1 ] && grep -q "rank1.json" "$work/lie.log" ||
    { echo "FAIL: error for $bad:"; cat "$work/lie.log"; fail=1; }
done
rm "$work/damaged/timeline/rank1.json"; mkfifo "$work/damaged/timeline/rank1.json"
if timeout 20 "$fc" runs timeline "$work/damaged" > "$work/fifo.log" 2>&1; then echo "FAIL: FIFO merged"; fail=1; fi
rc=$?
[ "$rc" -ne 124 ] || { echo "FAIL: runs timeline hung on a FIFO"; fail=1; }
grep -q "rank1.json" "$work/fifo.log" || { echo "FAIL: FIFO error does not name the file"; cat "$work/fifo.log"; fail=1; }
[ $fail -eq 0 ] && echo "timeline: all checks passed"
exit $fail
