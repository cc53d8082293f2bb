// `framecast data prepare`: converts a raw dataset once into the prepared layout (prepared.h).
//
// Inputs (natural name order throughout; sequence names are paths relative to `input`):
//   format "frames"  every folder under `input` that directly holds image files is one sequence
//                    (its frames in natural order); with `chunk` > 0 each folder's frames are cut
//                    into consecutive sequences of `chunk` frames (Cityscapes: 30), named
//                    "folder#k", and a short remainder is dropped.
//   format "video"   every video file under `input` is one sequence.
// Labels ("parent"): the class of a sequence is the name of the folder holding it (frames: the
// sequence folder's parent; video: the file's folder), classes sorted by name; "none": unlabelled.
// Test split: sequence ordinals in [a, b) of the sorted list (`test_range` "a:b"), the names
// listed in `test_list` (one per line, '#' comments), and/or names starting with `test_prefix`;
// `test_count` > 0 then keeps that many of them, chosen with a fixed-seed portable shuffle (the
// others are dropped from both splits). Everything else is the train split.
#pragma once

#include <cstdint>
#include <string>

#include "data/decode.h"
#include "util/status.h"

namespace fc::data {

struct PrepareOptions {
  std::string input, output;
  std::string format = "frames";  // frames | video
  std::string name;               // default: the output folder's base name
  std::string labels = "";        // parent | none; default: none for frames, parent for video
  FrameOptions frames;            // size, crop, channels, max_frames
  int chunk = 0;
  std::string test_range, test_list, test_prefix;
  int64_t test_count = 0;
  uint64_t test_seed = 42;
  int threads = 2;
  bool overwrite = false;
  bool skip_bad = false;  // skip inputs that fail to decode (counted, listed) instead of failing
  std::string command;    // recorded in the manifest
};

struct PrepareReport {
  int64_t train_sequences = 0, test_sequences = 0, frames = 0, skipped = 0;
  int height = 0, width = 0, channels = 0;
  std::vector<std::string> label_names;
};

// Writes options.output atomically; on error nothing valid-looking is left there.
Result<PrepareReport> Prepare(const PrepareOptions& options);

}  // namespace fc::data
