#!/usr/bin/env python3
"""Checks a framecast run directory's TensorBoard event files against its metrics.jsonl.

  check_run.py RUN_DIR [--stage-prefix] [--image-tag TAG --image-steps 1,2 --image-size HxW]

1. Every file in RUN_DIR/tb is split into TFRecords here, independently of framecast: the length,
   its masked CRC-32C, the data and its masked CRC-32C (CRC-32C computed by the pure-Python code
   below); the first record must decode to an Event with file_version "brain.Event:2".
2. tensorboard's EventAccumulator reads RUN_DIR/tb and must hold every scalar of every
   metrics.jsonl line at that line's step with the same value (as a float32).
3. With --image-tag: that tag's images are at exactly the given steps, of the given size, and are
   PNG files of that size.
4. The effective config is a text summary "config" (Text tab) equal to RUN_DIR/config.pbtxt, and
   the HParams tab's records parse with TensorBoard's own hparams protos: a session start with the
   run's family and global batch and, with --completed, a session end with STATUS_SUCCESS.
Exit status: 0 ok, 1 a check failed, 77 the tensorboard package cannot be imported.
"""
import argparse
import glob
import json
import os
import struct
import sys

PERF = {"ms_per_step", "clips_per_s", "gpu_mem_allocated_mib", "gpu_mem_peak_mib"}
META = {"step", "stage", "stage_step", "time"}


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        raw = f.read()
    out, at = [], 0
    while at < len(raw):
        if len(raw) - at < 12:
            raise ValueError(f"{path}: truncated header at byte {at}")
        (n,) = struct.unpack_from("<Q", raw, at)
        (len_crc,) = struct.unpack_from("<I", raw, at + 8)
        if len_crc != masked(raw[at:at + 8]):
            raise ValueError(f"{path}: length CRC mismatch at byte {at}")
        data = raw[at + 12:at + 12 + n]
        if len(data) != n or len(raw) < at + 16 + n:
            raise ValueError(f"{path}: truncated record at byte {at}")
        (data_crc,) = struct.unpack_from("<I", raw, at + 12 + n)
        if data_crc != masked(data):
            raise ValueError(f"{path}: data CRC mismatch at byte {at}")
        out.append(data)
        at += 16 + n
    return out


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--stage-prefix", action="store_true")
    ap.add_argument("--image-tag")
    ap.add_argument("--image-steps", default="")
    ap.add_argument("--image-size", default="")
    ap.add_argument("--completed", action="store_true")
    a = ap.parse_args()
    try:
        from tensorboard.backend.event_processing import event_accumulator
        from tensorboard.compat.proto import event_pb2
    except Exception as e:  # noqa: BLE001
        print(f"skip: the tensorboard package cannot be imported ({e}); run launch/setup.sh")
        return 77

    failures = []
    tb = os.path.join(a.run_dir, "tb")
    files = sorted(glob.glob(os.path.join(tb, "events.out.tfevents.*")))
    if not files:
        print(f"FAIL: no event files in {tb}")
        return 1
    n_records = 0
    for path in files:
        recs = records(path)
        n_records += len(recs)
        first = event_pb2.Event.FromString(recs[0])
        if first.file_version != "brain.Event:2":
            failures.append(f"{path}: first record has file_version {first.file_version!r}")
    print(f"ok: {len(files)} event file(s), {n_records} records, every CRC checked in Python")

    acc = event_accumulator.EventAccumulator(tb, size_guidance={"scalars": 0, "images": 0,
                                                                "tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    want = {}  # (tag, step) -> value; a later line for the same step wins
    with open(os.path.join(a.run_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            prefix = row["stage"] + "/" if a.stage_prefix else ""
            for k, v in row.items():
                if k in META or v is None:
                    continue
                tag = prefix + ("perf/" + k if k in PERF else k)
                want[(tag, row["step"])] = v
    if not want:
        failures.append("metrics.jsonl holds no scalars")
    seen = {}
    for tag in tags:
        for ev in acc.Scalars(tag):
            seen[(tag, ev.step)] = ev.value  # a resumed run's later value wins here too
    for (tag, step), v in sorted(want.items()):
        if (tag, step) not in seen:
            failures.append(f"scalar {tag} at step {step}: not in the event files (tags {sorted(tags)})")
        elif seen[(tag, step)] != f32(v):
            failures.append(f"scalar {tag} at step {step}: {seen[(tag, step)]} != {v}")
    print(f"ok: {len(want)} scalar values at {len({s for _, s in want})} steps found by "
          f"EventAccumulator" if not failures else "")

    if a.image_tag:
        images = acc.Images(a.image_tag) if a.image_tag in acc.Tags()["images"] else []
        steps = [im.step for im in images]
        want_steps = [int(s) for s in a.image_steps.split(",") if s]
        if steps != want_steps:
            failures.append(f"images {a.image_tag}: steps {steps}, want {want_steps}")
        h, w = (int(x) for x in a.image_size.split("x"))
        for im in images:
            png = im.encoded_image_string
            ph, pw = struct.unpack(">II", png[16:24])[::-1] if png[:8] == b"\x89PNG\r\n\x1a\n" else (0, 0)
            if (im.height, im.width) != (h, w) or (ph, pw) != (h, w):
                failures.append(f"image {a.image_tag} step {im.step}: {im.height}x{im.width}, "
                                f"PNG {ph}x{pw}, want {h}x{w}")
        if not failures:
            print(f"ok: {len(images)} image(s) {a.image_tag} at steps {steps}, {h}x{w} PNG")

    # 4. config text and hparams
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util
    ttags = set(acc.Tags()["tensors"])
    if "config" not in ttags or acc.SummaryMetadata("config").plugin_data.plugin_name != "text":
        failures.append(f"no text summary 'config' (tensor tags {sorted(ttags)})")
    else:
        text = tensor_util.make_ndarray(acc.Tensors("config")[-1].tensor_proto).item().decode()
        with open(os.path.join(a.run_dir, "config.pbtxt")) as f:
            if text.strip().strip("`").strip() != f.read().strip():
                failures.append("text summary 'config' differs from config.pbtxt")
    start = "_hparams_/session_start_info"
    if start not in ttags:
        failures.append("no hparams session start")
    else:
        d = plugin_data_pb2.HParamsPluginData.FromString(
            acc.SummaryMetadata(start).plugin_data.content)
        hp = d.session_start_info.hparams
        if "family" not in hp or "data.global_batch" not in hp:
            failures.append(f"hparams lack family/data.global_batch: {sorted(hp)}")
        else:
            print(f"ok: config text summary and hparams ({len(hp)}: family "
                  f"{hp['family'].string_value}, global batch {hp['data.global_batch'].number_value:g})")
    if a.completed:
        end = "_hparams_/session_end_info"
        ok = end in ttags and plugin_data_pb2.HParamsPluginData.FromString(
            acc.SummaryMetadata(end).plugin_data.content).session_end_info.status == 1
        if not ok:
            failures.append("no hparams session end with STATUS_SUCCESS")

    for m in failures:
        print("FAIL:", m)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
