// One checkpoint step on disk: writing it (collective, every rank writes its shard in parallel),
// committing it (rank 0's manifest, atomically), reading and verifying it on any number of ranks.
// The bytes are specified in src/ckpt/FORMAT.md.
//
// Replicated state (identical on every rank: parameters, buffers, optimizer state) is split across
// the writing ranks by size, largest tensor first to the least-loaded rank, so every rank writes a
// similar share. Per-rank state (RNG) is written by its own rank. A step is committed only when
// MANIFEST.pb exists; it is written last, by rank 0, after every rank reported its shard written
// and fsynced. Readers accept only committed steps.
//
// Hostile input: ReadManifest bounds the manifest size, checks every record (file names are
// shard-NNNNN-of-NNNNN.bin, so no path separators or "..", known dtypes, non-negative shapes,
// length == numel * element size without overflow) before anything is allocated; readers check
// offset + length against the shard's real size, and every tensor's CRC-32C before returning it.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "ckpt/manifest.pb.h"
#include "dist/communicator.h"
#include "util/status.h"

namespace fc::ckpt {

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

inline constexpr char kManifestName[] = "MANIFEST.pb";
inline constexpr uint32_t kFormatVersion = 1;

// "step-00000100".
std::string StepDirName(int64_t global_step);
// Committed steps under `ckpt_dir` (directories step-N containing MANIFEST.pb), ascending.
std::vector<std::pair<int64_t, std::string>> CommittedSteps(const std::string& ckpt_dir);

// Collective over `comm`. Writes the step directory `step_dir` (created if needed): this rank's
// shard, then, once every rank succeeded, rank 0's manifest. `replicated` must list the same names,
// dtypes and shapes on every rank (tensors may be on any device; they are read, not modified).
// `meta` supplies the manifest's descriptive fields (step, stage, config, ...). On any rank's
// failure no manifest is written and every rank returns the failure.
Status WriteCheckpoint(const std::string& step_dir, const std::vector<NamedTensor>& replicated,
                       const std::vector<NamedTensor>& local, const framecast::ckpt::Manifest& meta,
                       dist::Communicator* comm);

// Reads and validates step_dir/MANIFEST.pb.
Result<framecast::ckpt::Manifest> ReadManifest(const std::string& step_dir);

// Reads the named tensors (all of them if `names` is empty) into new CPU tensors, verifying sizes
// and checksums. Errors name the shard file, the tensor and its offset.
Result<std::map<std::string, at::Tensor>> ReadTensors(const std::string& step_dir,
                                                      const framecast::ckpt::Manifest& manifest,
                                                      const std::vector<std::string>& names);

// Verifies every tensor's size and checksum without keeping the data.
Status VerifyCheckpoint(const std::string& step_dir);

// Shard assignment used by WriteCheckpoint: owner rank of each tensor (by byte size).
std::vector<int> AssignShards(const std::vector<int64_t>& bytes, int world_size);

}  // namespace fc::ckpt
