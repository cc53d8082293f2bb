// The prepared-dataset layout (what `framecast data prepare` writes and training reads).
//
// A directory DIR holds manifest.pbtxt (DatasetManifest, src/data/dataset.proto) and per split S:
//   S.frames  uint8 frames, [T, H, W, C] per sequence (THWC), sequences back to back in index
//             order; frame f of sequence i starts at index.offset[i] + f * H * W * C.
//   S.index   little-endian binary: header {char magic[8] = "FCDSIDX1"; uint64 num_sequences;
//             uint64 num_frames; uint64 frame_bytes}, then per sequence {uint64 offset;
//             uint64 first_frame; uint32 num_frames; int32 label (-1: none)}, then one uint32
//             CRC-32C per frame (all frames in order), then a uint32 CRC-32C of everything before.
//   S.names   one line per sequence: its source path relative to the prepared input.
// Readers use pread on one descriptor per split (thread-safe) and check the CRC of every frame
// they read; a mismatch is a Corruption error naming the file, sequence, frame and byte offset.
//
// Writing is atomic: PreparedWriter fills DIR.partial-<pid>/, fsyncs every file, writes the
// manifest last and renames the folder onto DIR. An unfinished prepare leaves only the .partial
// folder (removed by the writer's destructor when the process survives).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.pb.h"
#include "util/files.h"
#include "util/status.h"

namespace fc::data {

inline constexpr const char* kManifestName = "manifest.pbtxt";

class PreparedSplit {
 public:
  ~PreparedSplit();
  PreparedSplit(const PreparedSplit&) = delete;
  PreparedSplit& operator=(const PreparedSplit&) = delete;

  const std::string& name() const { return info_.name(); }
  int64_t size() const { return static_cast<int64_t>(offset_.size()); }
  int64_t frames(int64_t i) const { return count_[i]; }
  int64_t label(int64_t i) const { return label_[i]; }
  const std::string& sequence_name(int64_t i) const { return names_[i]; }
  int64_t height() const { return h_; }
  int64_t width() const { return w_; }
  int64_t channels() const { return c_; }

  // Frames start, start + stride, ... (count of them) of sequence i: uint8 [count, H, W, C]. Every
  // frame read is checked against its CRC-32C. REQUIRES: the frames exist (else InvalidArgument).
  Result<at::Tensor> Read(int64_t i, int64_t start, int64_t count, int64_t stride = 1) const;
  // Reads and checks every frame; the first mismatch is returned.
  Status VerifyAll() const;

 private:
  friend class PreparedDataset;
  PreparedSplit() = default;
  std::string frames_path_;
  int fd_ = -1;
  framecast::data::SplitInfo info_;
  int64_t h_ = 0, w_ = 0, c_ = 0, frame_bytes_ = 0;
  std::vector<uint64_t> offset_, first_;
  std::vector<int64_t> count_, label_;
  std::vector<uint32_t> crc_;
  std::vector<std::string> names_;
};

class PreparedDataset {
 public:
  // Reads and checks the manifest, the index files (their CRC, offsets against the frames file
  // sizes) and the names files. Errors name the file (and field or byte offset).
  static Result<std::shared_ptr<const PreparedDataset>> Open(const std::string& dir);
  const framecast::data::DatasetManifest& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  // The split named `name`, or NotFound naming the dataset and the splits it has.
  Result<const PreparedSplit*> split(const std::string& name) const;

 private:
  std::string dir_;
  framecast::data::DatasetManifest manifest_;
  std::vector<std::unique_ptr<PreparedSplit>> splits_;
};

// Writes a prepared dataset. Usage: Create, Add sequences (any split, any order of splits; within
// a split, in the order they are to be stored), Commit. Destroying an uncommitted writer removes
// its partial folder.
class PreparedWriter {
 public:
  // `base` supplies name, height, width, channels, label_names, source, command; splits are the
  // split names to create. Fails when DIR exists unless `overwrite` (the old DIR is replaced only
  // at Commit).
  static Result<std::unique_ptr<PreparedWriter>> Create(
      const std::string& dir, const framecast::data::DatasetManifest& base,
      const std::vector<std::string>& splits, bool overwrite);
  ~PreparedWriter();
  // frames: uint8 [T, H, W, C] with the manifest's H, W, C; T >= 1.
  Status Add(const std::string& split, const at::Tensor& frames, int64_t label,
             const std::string& name);
  Status Commit();
  const std::string& partial_dir() const { return tmp_; }

 private:
  struct SplitState;
  PreparedWriter() = default;
  std::string dir_, tmp_;
  bool overwrite_ = false, committed_ = false;
  framecast::data::DatasetManifest manifest_;
  std::vector<std::unique_ptr<SplitState>> splits_;
};

}  // namespace fc::data
