#!/usr/bin/env bash
# `framecast data`: one-line errors with a non-zero exit, a failing prepare leaves nothing that
# looks like a dataset, prepare -> info/verify -> preview (GIF and MP4, checked with ffprobe), and a
# corrupted byte reported by verify with the file and byte offset.
set -u
fc="$1"; work="$2"; fail=0
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "skip: no ffmpeg"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

check() {  # expected-substring command...
  local want="$1"; shift
  out="$("$@" 2>&1)"; rc=$?
  if [ "$rc" -eq 0 ] || ! grep -qF -- "$want" <<<"$out" || [ "$(wc -l <<<"$out")" -ne 1 ]; then
    echo "FAIL: '$*' -> rc=$rc, output: $out"; fail=1
  else
    echo "ok: $* -> $out"
  fi
}

# Raw data: two classes of two 16-frame sequences as PNG folders, plus one as a video file.
for cls in run walk; do
  for k in 0 1; do
    mkdir -p "raw/$cls/v$k"
    ffmpeg -v error -f lavfi -i "testsrc=size=48x40:rate=10" -frames:v 16 "raw/$cls/v$k/%d.png" || exit 1
  done
done
mkdir -p vids/jump
ffmpeg -v error -f lavfi -i "testsrc=size=48x40:rate=10" -frames:v 16 -c:v mjpeg "vids/jump/a.avi" || exit 1

check "unknown subcommand 'prepair'" "$fc" data prepair
check "--in is required" "$fc" data prepare --out ds
check "input folder 'nope' does not exist" "$fc" data prepare --in nope --out ds
check "--format: 'gif'" "$fc" data prepare --in raw --out ds --format gif
check "--size expects an integer" "$fc" data prepare --in raw --out ds --size big
check "--test-range: '5-9'" "$fc" data prepare --in raw --out ds --test-range 5-9
check "--test-range 3:9: only 4 sequences" "$fc" data prepare --in raw --out ds --test-range 3:9
check "ds: no such prepared dataset folder" "$fc" data info ds
mkdir -p empty && check "empty/manifest.pbtxt: missing" "$fc" data verify empty
check "must end in .gif or .mp4" "$fc" data preview ds --out x.png

# A bad frame: the prepare fails naming it and leaves no dataset (nor a partial folder).
cp -r raw rawbad && head -c 100 raw/walk/v1/3.png > rawbad/walk/v1/3.png
check "rawbad/walk/v1/3.png" "$fc" data prepare --in rawbad --out bad --labels parent
if [ -e bad ] || ls | grep -q partial; then echo "FAIL: failed prepare left output: $(ls)"; fail=1; fi

# Prepare, info, verify, preview.
"$fc" data prepare --in raw --out ds --labels parent --size 32 --test-range 3:4 --threads 2 \
  || { echo "FAIL: prepare"; fail=1; }
"$fc" data info ds | grep -qE "train +3 sequences" || { echo "FAIL: info"; "$fc" data info ds; fail=1; }
"$fc" data verify ds | grep -q "every frame matches" || { echo "FAIL: verify"; fail=1; }
check "already exists" "$fc" data prepare --in raw --out ds
"$fc" data prepare --in raw --out ds --overwrite --size 16 >/dev/null || { echo "FAIL: overwrite"; fail=1; }
grep -q "height: 16" ds/manifest.pbtxt || { echo "FAIL: overwrite kept the old dataset"; fail=1; }
"$fc" data prepare --in vids --out dv --format video --size 32 --channels 1 | grep -q "1 classes" \
  || { echo "FAIL: video prepare"; fail=1; }
"$fc" data preview ds --out p.gif --num 3 --frames 10 || { echo "FAIL: preview gif"; fail=1; }
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 p.gif)
[ "$n" = "10" ] || { echo "FAIL: p.gif has '$n' frames, want 10"; fail=1; }
"$fc" data preview dv --out p.mp4 --split train --frames 6 || { echo "FAIL: preview mp4"; fail=1; }
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 p.mp4)
[ "$n" = "6" ] || { echo "FAIL: p.mp4 has '$n' frames, want 6"; fail=1; }

# A manifest naming a file outside the dataset folder ("../"): refused, naming the field.
cp -r dv dv-escape && sed -i 's|frames_file: "train.frames"|frames_file: "../dv/train.frames"|' dv-escape/manifest.pbtxt
check "frames_file '../dv/train.frames' is not a file name inside the dataset directory" "$fc" data verify dv-escape

# Moving MNIST preview from a run config (needs Debian's Fashion-MNIST).
if [ -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  cat > mm.pbtxt <<'CFG'
name: "mm"
data { global_batch: 4 context_frames: 5 predicted_frames: 10 moving_mnist { convention: SRVP } }
model { demo {} }
optimizers { network: "model" sgd { momentum: 0.9 } lr: 0.05 }
stages { name: "main" steps: 1 }
CFG
  "$fc" data preview mm.pbtxt --out mm.gif --split test --num 2 >/dev/null 2>mm.err \
    || { echo "FAIL: moving mnist preview: $(cat mm.err)"; fail=1; }
  n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 mm.gif)
  [ "$n" = "15" ] || { echo "FAIL: mm.gif has '$n' frames, want 15"; fail=1; }
  check "data.moving_mnist.num_digits: must be >= 1" "$fc" data preview mm.pbtxt --out mm.gif \
    --set data.moving_mnist.num_digits=-2
fi

# A corrupted byte: verify names the file and the byte offset.
b=$(od -An -tu1 -j5000 -N1 ds/train.frames | tr -d ' ')
printf "\\x$(printf %02x $((255 - b)))" | dd of=ds/train.frames bs=1 seek=5000 conv=notrunc status=none
check "train.frames: sequence 0 (run/v0) frame 6 at byte offset 4608" "$fc" data verify ds
exit $fail
