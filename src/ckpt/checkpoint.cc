#include "ckpt/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <regex>
#include <set>

#include "ckpt/manifest_check.h"
#include "util/crc32c.h"
#include "util/files.h"

namespace fc::ckpt {

using framecast::ckpt::Manifest;
using framecast::ckpt::TensorRecord;

namespace {

constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kAlign = 64;
constexpr uint64_t kMaxManifestBytes = 256ull << 20;
constexpr size_t kChunk = 8u << 20;

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {{at::kFloat, "float32"}, {at::kDouble, "float64"},
                                 {at::kHalf, "float16"},  {at::kBFloat16, "bfloat16"},
                                 {at::kLong, "int64"},    {at::kInt, "int32"},
                                 {at::kShort, "int16"},   {at::kChar, "int8"},
                                 {at::kByte, "uint8"},    {at::kBool, "bool"}};

Result<std::string> DtypeToName(at::ScalarType t) {
  for (const auto& d : kDtypes) {
    if (d.type == t) return std::string(d.name);
  }
  return Status::InvalidArgument(std::string("checkpoint: unsupported dtype ") + c10::toString(t));
}
bool NameToDtype(const std::string& n, at::ScalarType* t) {
  for (const auto& d : kDtypes) {
    if (n == d.name) {
      *t = d.type;
      return true;
    }
  }
  return false;
}

std::string Join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

std::string Where(const std::string& step_dir, const TensorRecord& r) {
  return Join(BaseName(step_dir), r.file()) + ": tensor " + r.name() + " at offset " +
         std::to_string(r.offset()) + " (" + std::to_string(r.length()) + " bytes)";
}

// Bytes gathered from every rank (lengths first, then padded rows).
Result<std::vector<std::string>> AllGatherBytes(dist::Communicator* comm, const std::string& mine) {
  at::Tensor len = at::tensor({static_cast<int64_t>(mine.size())}, at::kLong);
  at::Tensor lens = at::empty({comm->size()}, at::kLong);
  FC_RETURN_IF_ERROR(comm->AllGather(len, lens)->Wait());
  const int64_t max_len = std::max<int64_t>(1, lens.max().item<int64_t>());
  at::Tensor row = at::zeros({max_len}, at::kByte);
  if (!mine.empty()) std::memcpy(row.data_ptr(), mine.data(), mine.size());
  at::Tensor rows = at::empty({max_len * comm->size()}, at::kByte);
  FC_RETURN_IF_ERROR(comm->AllGather(row, rows)->Wait());
  std::vector<std::string> out;
  for (int r = 0; r < comm->size(); ++r) {
    out.emplace_back(static_cast<const char*>(rows.data_ptr()) + r * max_len,
                     static_cast<size_t>(lens[r].item<int64_t>()));
  }
  return out;
}

// Writes this rank's shard: header, then each tensor at a 64-byte aligned offset.
Status WriteShard(const std::string& path, const std::string& file, int rank, int world,
                  int64_t step, const std::vector<const NamedTensor*>& tensors,
                  std::vector<TensorRecord>* records) {
  FC_ASSIGN_OR_RETURN(WriteFile f, WriteFile::Create(path));
  char header[kHeaderBytes] = {0};
  std::memcpy(header, "FCSHARD1", 8);
  const uint32_t fields[4] = {kFormatVersion, static_cast<uint32_t>(rank),
                              static_cast<uint32_t>(world), 0};
  std::memcpy(header + 8, fields, sizeof(fields));
  std::memcpy(header + 24, &step, sizeof(step));
  FC_RETURN_IF_ERROR(f.Append(header, sizeof(header)));
  static const char kZeros[kAlign] = {0};
  for (const NamedTensor* nt : tensors) {
    const uint64_t pad = (kAlign - f.offset() % kAlign) % kAlign;
    FC_RETURN_IF_ERROR(f.Append(kZeros, pad));
    at::Tensor t = nt->tensor.detach().to(at::kCPU).contiguous();
    TensorRecord r;
    r.set_name(nt->name);
    FC_ASSIGN_OR_RETURN(std::string dtype, DtypeToName(t.scalar_type()));
    r.set_dtype(dtype);
    for (int64_t d : t.sizes()) r.add_shape(d);
    r.set_file(file);
    r.set_offset(f.offset());
    const uint64_t n = static_cast<uint64_t>(t.numel()) * t.element_size();
    r.set_length(n);
    r.set_crc32c(n ? Crc32c(t.data_ptr(), n) : 0);
    if (n) FC_RETURN_IF_ERROR(f.Append(t.data_ptr(), n));
    records->push_back(std::move(r));
  }
  return f.SyncAndClose();
}

}  // namespace

std::string StepDirName(int64_t global_step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(global_step));
  return buf;
}

std::vector<std::pair<int64_t, std::string>> CommittedSteps(const std::string& ckpt_dir) {
  // At most 18 digits: every such number fits an int64 (a longer name is not a step of ours).
  static const std::regex kStep(R"(step-([0-9]{8,18}))");
  std::vector<std::pair<int64_t, std::string>> out;
  for (const std::string& n : ListDir(ckpt_dir)) {
    std::smatch m;
    if (!std::regex_match(n, m, kStep)) continue;
    // A step is a real directory: a link planted in its place is neither read nor deleted.
    if (!IsRealDir(Join(ckpt_dir, n))) continue;
    if (!Exists(Join(Join(ckpt_dir, n), kManifestName))) continue;
    out.emplace_back(std::stoll(m[1].str()), Join(ckpt_dir, n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> AssignShards(const std::vector<int64_t>& bytes, int world_size) {
  std::vector<int> order(bytes.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by index, so every rank computes the same assignment.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return bytes[a] > bytes[b]; });
  std::vector<int64_t> load(world_size, 0);
  std::vector<int> owner(bytes.size(), 0);
  for (int i : order) {
    int best = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = best;
    load[best] += bytes[i];
  }
  return owner;
}

Status WriteCheckpoint(const std::string& step_dir, const std::vector<NamedTensor>& replicated,
                       const std::vector<NamedTensor>& local, const Manifest& meta,
                       dist::Communicator* comm) {
  const int rank = comm->rank(), world = comm->size();
  const std::string file = ShardFileName(rank, world);
  std::vector<TensorRecord> records;
  Status st = MakeDirs(step_dir);
  if (st.ok()) {
    std::vector<int64_t> bytes;
    for (const auto& nt : replicated) bytes.push_back(nt.tensor.numel() * nt.tensor.element_size());
    std::vector<int> owner = AssignShards(bytes, world);
    std::vector<const NamedTensor*> mine;
    for (size_t i = 0; i < replicated.size(); ++i) {
      if (owner[i] == rank) mine.push_back(&replicated[i]);
    }
    for (const auto& nt : local) mine.push_back(&nt);
    st = WriteShard(Join(step_dir, file), file, rank, world, meta.global_step(), mine, &records);
  }
  // Every shard is durable on every rank before anything is committed.
  FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, st, "could not write its checkpoint shard"));
  Manifest part;
  for (auto& r : records) *part.add_tensors() = std::move(r);
  FC_ASSIGN_OR_RETURN(std::vector<std::string> parts,
                      AllGatherBytes(comm, part.SerializeAsString()));
  Status commit;
  if (rank == 0) {
    Manifest m = meta;
    m.set_format_version(kFormatVersion);
    m.set_framecast_version(FRAMECAST_VERSION);
    m.set_world_size(world);
    m.clear_shard_files();
    m.clear_tensors();
    for (int r = 0; r < world; ++r) m.add_shard_files(ShardFileName(r, world));
    std::vector<TensorRecord> all;
    for (const std::string& p : parts) {
      Manifest pm;
      if (!pm.ParseFromString(p)) {
        commit = Status::Internal("checkpoint: a rank's tensor records did not parse");
        break;
      }
      for (const auto& r : pm.tensors()) all.push_back(r);
    }
    std::sort(all.begin(), all.end(),
              [](const TensorRecord& a, const TensorRecord& b) { return a.name() < b.name(); });
    for (auto& r : all) *m.add_tensors() = std::move(r);
    m.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    if (commit.ok()) commit = WriteFileAtomic(Join(step_dir, kManifestName), EncodeManifest(m));
    // The step directory's own entry must be durable too.
    if (commit.ok()) commit = SyncDir(DirName(step_dir));
  }
  return dist::AgreeOnStatus(comm, commit, "could not commit the checkpoint manifest");
}

Result<Manifest> ReadManifest(const std::string& step_dir) {
  const std::string path = Join(step_dir, kManifestName);
  FC_ASSIGN_OR_RETURN(std::string bytes, ReadSmallFile(path, kMaxManifestBytes));
  return DecodeManifest(bytes, path);
}

namespace {

// The shard's 64-byte header (FORMAT.md) against the manifest: magic, version, the rank that
// wrote it (its index in shard_files), the world size and the global step.
Status CheckHeader(const std::string& path, int fd, uint64_t size, const Manifest& m,
                   const std::string& file) {
  if (size < kHeaderBytes)
    return Status::Corruption(path + ": " + std::to_string(size) +
                              " bytes, shorter than the shard header (truncated shard)");
  unsigned char h[kHeaderBytes];
  FC_RETURN_IF_ERROR(ReadAt(path, fd, 0, h, sizeof(h)));
  if (std::memcmp(h, "FCSHARD1", 8) != 0)
    return Status::Corruption(path + ": offset 0: not a framecast shard (bad magic)");
  uint32_t fields[4];
  int64_t step = 0;
  std::memcpy(fields, h + 8, sizeof(fields));
  std::memcpy(&step, h + 24, sizeof(step));
  int index = -1;
  for (int i = 0; i < m.shard_files_size(); ++i) {
    if (m.shard_files(i) == file) index = i;
  }
  if (fields[0] != kFormatVersion)
    return Status::Corruption(path + ": offset 8: shard format version " +
                              std::to_string(fields[0]) + " (expected " +
                              std::to_string(kFormatVersion) + ")");
  if (static_cast<int64_t>(fields[1]) != index)
    return Status::Corruption(path + ": offset 12: written by rank " + std::to_string(fields[1]) +
                              ", the manifest names it shard " + std::to_string(index));
  if (static_cast<int64_t>(fields[2]) != m.world_size())
    return Status::Corruption(path + ": offset 16: world size " + std::to_string(fields[2]) +
                              ", the manifest says " + std::to_string(m.world_size()));
  if (step != m.global_step())
    return Status::Corruption(path + ": offset 24: global step " + std::to_string(step) +
                              ", the manifest says " + std::to_string(m.global_step()) +
                              " (a shard of another step)");
  return Status::Ok();
}

// Opens every shard once, checks its header and that each record lies inside its file.
struct ShardFiles {
  std::map<std::string, int> fds;
  ~ShardFiles() {
    for (auto& [n, fd] : fds) ::close(fd);
  }
  Status Open(const std::string& step_dir, const Manifest& m,
              const std::vector<const TensorRecord*>& recs) {
    std::map<std::string, uint64_t> sizes;
    for (const TensorRecord* r : recs) {
      const std::string p = Join(step_dir, r->file());
      if (!fds.count(r->file())) {
        if (!Exists(p))
          return Status::Corruption(p + ": shard file missing (needed for tensor " + r->name() +
                                    ")");
        FC_ASSIGN_OR_RETURN(int fd, OpenForRead(p));
        fds[r->file()] = fd;
        FC_ASSIGN_OR_RETURN(uint64_t sz, FileSize(p));
        sizes[r->file()] = sz;
        FC_RETURN_IF_ERROR(CheckHeader(p, fd, sz, m, r->file()));
      }
      if (r->offset() + r->length() > sizes[r->file()]) {
        return Status::Corruption(Where(step_dir, *r) + ": past the end of the file (" +
                                  std::to_string(sizes[r->file()]) + " bytes): truncated shard");
      }
    }
    return Status::Ok();
  }
};

Status CheckCrc(const std::string& step_dir, const TensorRecord& r, uint32_t got) {
  if (got == r.crc32c()) return Status::Ok();
  char buf[80];
  std::snprintf(buf, sizeof(buf), ": CRC32C mismatch (stored %08x, computed %08x)", r.crc32c(),
                got);
  return Status::Corruption(Where(step_dir, r) + buf);
}

}  // namespace

Result<std::map<std::string, at::Tensor>> ReadTensors(const std::string& step_dir,
                                                      const Manifest& m,
                                                      const std::vector<std::string>& names) {
  std::vector<const TensorRecord*> recs;
  if (names.empty()) {
    for (const auto& r : m.tensors()) recs.push_back(&r);
  } else {
    std::map<std::string, const TensorRecord*> by_name;
    for (const auto& r : m.tensors()) by_name[r.name()] = &r;
    for (const std::string& n : names) {
      auto it = by_name.find(n);
      if (it == by_name.end()) {
        return Status::NotFound(Join(step_dir, kManifestName) + ": no tensor '" + n +
                                "' (a checkpoint of another model or run?)");
      }
      recs.push_back(it->second);
    }
  }
  ShardFiles files;
  FC_RETURN_IF_ERROR(files.Open(step_dir, m, recs));
  std::map<std::string, at::Tensor> out;
  for (const TensorRecord* r : recs) {
    at::ScalarType t;
    NameToDtype(r->dtype(), &t);
    std::vector<int64_t> shape(r->shape().begin(), r->shape().end());
    at::Tensor x = at::empty(shape, at::TensorOptions().dtype(t));
    if (r->length() > 0) {
      FC_RETURN_IF_ERROR(ReadAt(Join(step_dir, r->file()), files.fds[r->file()], r->offset(),
                                x.data_ptr(), r->length()));
    }
    FC_RETURN_IF_ERROR(CheckCrc(step_dir, *r, r->length() ? Crc32c(x.data_ptr(), r->length()) : 0));
    out[r->name()] = x;
  }
  return out;
}

Status VerifyCheckpoint(const std::string& step_dir) {
  FC_ASSIGN_OR_RETURN(Manifest m, ReadManifest(step_dir));
  std::vector<const TensorRecord*> recs;
  for (const auto& r : m.tensors()) recs.push_back(&r);
  ShardFiles files;
  FC_RETURN_IF_ERROR(files.Open(step_dir, m, recs));
  std::vector<char> buf(kChunk);
  for (const TensorRecord* r : recs) {
    uint32_t crc = 0;
    for (uint64_t off = 0; off < r->length(); off += kChunk) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, r->length() - off));
      FC_RETURN_IF_ERROR(ReadAt(Join(step_dir, r->file()), files.fds[r->file()], r->offset() + off,
                                buf.data(), n));
      crc = Crc32cExtend(crc, buf.data(), n);
    }
    FC_RETURN_IF_ERROR(CheckCrc(step_dir, *r, crc));
  }
  return Status::Ok();
}

}  // namespace fc::ckpt
