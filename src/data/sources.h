// Clip sources: what the trainer and the evaluator read, one example at a time.
//
//   Moving MNIST (DataConfig.moving_mnist)
//     train: size() = DataConfig.epoch_size (default 600 x global_batch); Get(index, key) is the
//            clip Generate(seed = key, index) of the train digits, so every (seed, epoch, index)
//            gives a new clip (an endless stream with exact resume).
//     test:  the fixed held-out set: clip i = Generate(test_seed, i) of the test digits,
//            i < eval_sequences; the key is ignored.
//     labels: with one item per clip (num_digits 1) and a label file, the item's class
//            (num_classes = largest label + 1, 10 for (Fashion-)MNIST); otherwise unlabelled.
//   Prepared datasets (DataConfig.clips, written by `framecast data prepare`)
//     train: the "train" split; example i is the i-th sequence long enough for one clip; the clip
//            is clip_length frames, frame_stride apart, from a start drawn uniformly from the key.
//     test:  the "test" split; clip i is the first clip_length frames of sequence i (the whole
//            sequence when clip_length is 0). Every test sequence must be long enough.
// Frames are uint8 [T, C, H, W]; labels come from the prepared dataset's classes (-1: none).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "proto/data.pb.h"
#include "util/status.h"

namespace fc::data {

struct Clip {
  at::Tensor frames;  // uint8 [T, C, H, W]
  int64_t label = -1;
};

class ClipSource {
 public:
  virtual ~ClipSource();
  // Examples per epoch (endless sources: DataConfig.epoch_size).
  virtual int64_t size() const = 0;
  virtual int64_t channels() const = 0;
  virtual int64_t image_size() const = 0;
  // Number of classes; 0 when unlabelled.
  virtual int64_t num_classes() const = 0;
  // Thread-safe and deterministic in (index, key). Errors name the file (and frame/offset).
  virtual Result<Clip> Get(int64_t index, uint64_t key) const = 0;
  // A short human-readable description ("moving_mnist SVG train", "clips /data/bair test").
  virtual std::string Describe() const = 0;
};

// Clips [begin, end) of `source` with key 0 (an evaluation's share of a held-out set): frames
// uint8 [n, T, C, H, W] (T = clip_length; [0, T, C, H, W] when the range is empty) and labels
// int64 [n] (-1 for unlabelled clips).
struct ClipBatch {
  at::Tensor frames, labels;
};
Result<ClipBatch> ReadClips(const ClipSource& source, int64_t begin, int64_t end,
                            int64_t clip_length);

// clip_length = frames per clip (context + predicted). REQUIRES: ApplyDataDefaults was applied.
Result<std::unique_ptr<ClipSource>> MakeTrainSource(const framecast::DataConfig& config,
                                                    int64_t clip_length);
Result<std::unique_ptr<ClipSource>> MakeTestSource(const framecast::DataConfig& config,
                                                   int64_t clip_length);

// Fills zero-valued fields with their documented defaults: loader_threads 2, prefetch_batches 2,
// eval_sequences 256, eval_predicted_frames = predicted_frames, epoch_size 600 x global_batch
// (Moving MNIST); moving_mnist: Fashion-MNIST digit (and, with default digits, label) files,
// num_digits 2, image_size 64, digit_size 32 (SVG, DETERMINISTIC) / 28 (SRVP), max_speed 4,
// test_seed 42; clips: frame_stride 1.
Status ApplyDataDefaults(framecast::DataConfig* config);
// Rules on the (defaulted) data config; errors name the field path, e.g.
// "data.moving_mnist.num_digits: must be >= 1"; with check_files, missing files (Fashion-MNIST
// digits, a prepared dataset's manifest) are named with their field and path.
Status ValidateData(const framecast::DataConfig& config, bool check_files = true);

// One line for the start-up banner when the (defaulted) data config stands in for the papers'
// dataset, empty otherwise: Moving MNIST drawn with Fashion-MNIST items (the default files, or a
// path naming "fashion") instead of the MNIST digits of Stochastic Moving MNIST, and the
// procedural blobs, which are no paper's dataset.
std::string DescribeSubstitute(const framecast::DataConfig& config);

}  // namespace fc::data
