#include "data/prepared.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "util/crc32c.h"

namespace fc::data {
namespace {

constexpr char kIndexMagic[8] = {'F', 'C', 'D', 'S', 'I', 'D', 'X', '1'};
constexpr size_t kHeaderBytes = 32;
constexpr size_t kRecordBytes = 24;

void PutU32(std::string* s, uint32_t v) {
  for (int k = 0; k < 4; ++k) s->push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}
void PutU64(std::string* s, uint64_t v) {
  for (int k = 0; k < 8; ++k) s->push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(p[k]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(p[k]);
  return v;
}

std::string Hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "0x%08x", v);
  return b;
}

}  // namespace

// ---- reading
// ----------------------------------------------------------------------------------------

PreparedSplit::~PreparedSplit() {
  if (fd_ >= 0) ::close(fd_);
}

Result<at::Tensor> PreparedSplit::Read(int64_t i, int64_t start, int64_t count,
                                       int64_t stride) const {
  if (i < 0 || i >= size() || start < 0 || count < 1 || stride < 1 ||
      start + (count - 1) * stride >= count_[i]) {
    return Status::InvalidArgument(frames_path_ + ": sequence " + std::to_string(i) + " (" +
                                   (i >= 0 && i < size() ? names_[i] : std::string("?")) +
                                   ") has no frames " + std::to_string(start) + " + " +
                                   std::to_string(count) + " x stride " + std::to_string(stride));
  }
  const int64_t span = (count - 1) * stride + 1;
  at::Tensor buf = at::empty({span, h_, w_, c_}, at::kByte);
  const uint64_t off = offset_[i] + static_cast<uint64_t>(start) * frame_bytes_;
  FC_RETURN_IF_ERROR(ReadAt(frames_path_, fd_, off, buf.data_ptr<uint8_t>(), span * frame_bytes_));
  for (int64_t k = 0; k < count; ++k) {
    const int64_t f = start + k * stride;
    const uint8_t* p = buf.data_ptr<uint8_t>() + k * stride * frame_bytes_;
    const uint32_t want = crc_[first_[i] + f];
    const uint32_t got = Crc32c(p, frame_bytes_);
    if (got != want) {
      return Status::Corruption(
          frames_path_ + ": sequence " + std::to_string(i) + " (" + names_[i] + ") frame " +
          std::to_string(f) + " at byte offset " + std::to_string(offset_[i] + f * frame_bytes_) +
          ": CRC-32C mismatch (index " + Hex(want) + ", data " + Hex(got) + ")");
    }
  }
  if (stride == 1) return buf;
  return buf.slice(0, 0, span, stride).contiguous();
}

Status PreparedSplit::VerifyAll() const {
  for (int64_t i = 0; i < size(); ++i) {
    auto r = Read(i, 0, count_[i], 1);
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

Result<std::shared_ptr<const PreparedDataset>> PreparedDataset::Open(const std::string& dir) {
  const std::string mpath = dir + "/" + kManifestName;
  if (!Exists(dir)) return Status::NotFound(dir + ": no such prepared dataset folder");
  if (!Exists(mpath)) {
    return Status::NotFound(mpath + ": missing (not a prepared dataset, or its prepare did not " +
                            "finish)");
  }
  FC_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(mpath, 16 << 20));
  auto ds = std::make_shared<PreparedDataset>();
  ds->dir_ = dir;
  google::protobuf::TextFormat::Parser parser;
  if (!parser.ParseFromString(text, &ds->manifest_)) {
    return Status::Corruption(mpath + ": not a valid DatasetManifest (protobuf text)");
  }
  const auto& m = ds->manifest_;
  if (m.format_version() != 1) {
    return Status::Corruption(mpath + ": format_version " + std::to_string(m.format_version()) +
                              " (this framecast reads 1)");
  }
  if (m.layout() != "THWC") return Status::Corruption(mpath + ": layout '" + m.layout() + "'");
  if (m.height() < 1 || m.width() < 1 || (m.channels() != 1 && m.channels() != 3)) {
    return Status::Corruption(mpath + ": bad height/width/channels");
  }
  const uint64_t frame_bytes = uint64_t(m.height()) * m.width() * m.channels();
  for (const auto& info : m.splits()) {
    std::unique_ptr<PreparedSplit> s(new PreparedSplit());
    s->info_ = info;
    s->h_ = m.height();
    s->w_ = m.width();
    s->c_ = m.channels();
    s->frame_bytes_ = static_cast<int64_t>(frame_bytes);
    // The split's files are plain names inside the dataset directory: no '/', no "..".
    for (auto [field, name] :
         {std::pair<const char*, const std::string*>{"frames_file", &info.frames_file()},
          {"index_file", &info.index_file()},
          {"names_file", &info.names_file()}}) {
      if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == ".." ||
          name->find('\0') != std::string::npos) {
        return Status::Corruption(mpath + ": splits[" + info.name() + "]." + field + " '" + *name +
                                  "' is not a file name inside the dataset directory");
      }
    }
    s->frames_path_ = dir + "/" + info.frames_file();
    const std::string ipath = dir + "/" + info.index_file();
    FC_ASSIGN_OR_RETURN(uint64_t fsize, FileSize(s->frames_path_));
    if (fsize != info.frames_bytes()) {
      return Status::Corruption(s->frames_path_ + ": " + std::to_string(fsize) + " bytes, " +
                                kManifestName + " says " + std::to_string(info.frames_bytes()) +
                                " (truncated or replaced)");
    }
    FC_ASSIGN_OR_RETURN(std::string idx, ReadSmallFile(ipath, uint64_t(1) << 34));
    if (idx.size() != info.index_bytes() || idx.size() < kHeaderBytes + 4) {
      return Status::Corruption(ipath + ": " + std::to_string(idx.size()) + " bytes, " +
                                kManifestName + " says " + std::to_string(info.index_bytes()));
    }
    const uint32_t stored = GetU32(idx.data() + idx.size() - 4);
    const uint32_t computed = Crc32c(idx.data(), idx.size() - 4);
    if (stored != computed) {
      return Status::Corruption(ipath + ": CRC-32C mismatch over bytes 0.." +
                                std::to_string(idx.size() - 4) + " (stored " + Hex(stored) +
                                ", computed " + Hex(computed) + ")");
    }
    if (std::memcmp(idx.data(), kIndexMagic, 8) != 0) {
      return Status::Corruption(ipath + ": bad magic at byte offset 0");
    }
    const uint64_t n = GetU64(idx.data() + 8), nf = GetU64(idx.data() + 16);
    if (GetU64(idx.data() + 24) != frame_bytes) {
      return Status::Corruption(ipath + ": frame size at byte offset 24 disagrees with " +
                                kManifestName);
    }
    if (n != static_cast<uint64_t>(info.num_sequences()) ||
        nf != static_cast<uint64_t>(info.num_frames()) ||
        idx.size() != kHeaderBytes + n * kRecordBytes + nf * 4 + 4) {
      return Status::Corruption(ipath + ": header counts at byte offset 8 disagree with " +
                                kManifestName + " or the file size");
    }
    uint64_t expect_first = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const char* r = idx.data() + kHeaderBytes + i * kRecordBytes;
      const uint64_t off = GetU64(r), first = GetU64(r + 8);
      const uint32_t cnt = GetU32(r + 16);
      const int32_t label = static_cast<int32_t>(GetU32(r + 20));
      if (first != expect_first || off != first * frame_bytes || cnt == 0 ||
          (label < -1 || (label >= 0 && label >= m.label_names_size()))) {
        return Status::Corruption(
            ipath + ": sequence record " + std::to_string(i) + " at byte offset " +
            std::to_string(kHeaderBytes + i * kRecordBytes) + " is inconsistent");
      }
      expect_first += cnt;
      s->offset_.push_back(off);
      s->first_.push_back(first);
      s->count_.push_back(cnt);
      s->label_.push_back(label);
    }
    if (expect_first != nf || nf * frame_bytes != fsize) {
      return Status::Corruption(ipath + ": frame counts do not add up to " + info.frames_file());
    }
    const char* crcs = idx.data() + kHeaderBytes + n * kRecordBytes;
    s->crc_.resize(nf);
    for (uint64_t f = 0; f < nf; ++f) s->crc_[f] = GetU32(crcs + 4 * f);
    const std::string npath = dir + "/" + info.names_file();
    FC_ASSIGN_OR_RETURN(std::string names, ReadSmallFile(npath, uint64_t(1) << 32));
    size_t pos = 0;
    while (pos < names.size()) {
      size_t nl = names.find('\n', pos);
      if (nl == std::string::npos) nl = names.size();
      s->names_.push_back(names.substr(pos, nl - pos));
      pos = nl + 1;
    }
    if (s->names_.size() != n) {
      return Status::Corruption(npath + ": " + std::to_string(s->names_.size()) + " lines for " +
                                std::to_string(n) + " sequences");
    }
    s->fd_ = ::open(s->frames_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (s->fd_ < 0) {
      return Status::IoError(s->frames_path_ + ": cannot open: " + std::strerror(errno));
    }
    ds->splits_.push_back(std::move(s));
  }
  return std::shared_ptr<const PreparedDataset>(std::move(ds));
}

Result<const PreparedSplit*> PreparedDataset::split(const std::string& name) const {
  std::string have;
  for (const auto& s : splits_) {
    if (s->name() == name) return s.get();
    have += (have.empty() ? "" : ", ") + s->name();
  }
  return Status::NotFound(dir_ + ": prepared dataset has no '" + name +
                          "' split (splits: " + (have.empty() ? "none" : have) + ")");
}

// ---- writing
// ----------------------------------------------------------------------------------------

struct PreparedWriter::SplitState {
  std::string name;
  std::unique_ptr<WriteFile> frames;
  std::string records, crcs, names;
  uint64_t num_frames = 0, num_sequences = 0;
  int64_t min_frames = 0, max_frames = 0;
};

Result<std::unique_ptr<PreparedWriter>> PreparedWriter::Create(
    const std::string& dir, const framecast::data::DatasetManifest& base,
    const std::vector<std::string>& splits, bool overwrite) {
  if (Exists(dir) && !overwrite) {
    return Status::InvalidArgument(dir + ": already exists (pass --overwrite to replace it)");
  }
  if (base.height() < 1 || base.width() < 1 || (base.channels() != 1 && base.channels() != 3)) {
    return Status::InvalidArgument(dir + ": bad frame geometry for a prepared dataset");
  }
  std::unique_ptr<PreparedWriter> w(new PreparedWriter());
  w->dir_ = dir;
  w->tmp_ = dir + ".partial-" + std::to_string(::getpid());
  w->overwrite_ = overwrite;
  w->manifest_ = base;
  w->manifest_.set_format_version(1);
  w->manifest_.set_layout("THWC");
  w->manifest_.clear_splits();
  if (Exists(w->tmp_)) FC_RETURN_IF_ERROR(RemoveTree(w->tmp_));
  FC_RETURN_IF_ERROR(MakeDirs(w->tmp_));
  for (const auto& name : splits) {
    auto s = std::make_unique<SplitState>();
    s->name = name;
    FC_ASSIGN_OR_RETURN(WriteFile f, WriteFile::Create(w->tmp_ + "/" + name + ".frames"));
    s->frames = std::make_unique<WriteFile>(std::move(f));
    w->splits_.push_back(std::move(s));
  }
  return w;
}

PreparedWriter::~PreparedWriter() {
  if (!committed_ && !tmp_.empty() && Exists(tmp_)) {
    splits_.clear();  // closes the files
    (void)RemoveTree(tmp_);
  }
}

Status PreparedWriter::Add(const std::string& split, const at::Tensor& frames, int64_t label,
                           const std::string& name) {
  SplitState* s = nullptr;
  for (auto& x : splits_) {
    if (x->name == split) s = x.get();
  }
  if (s == nullptr) return Status::InvalidArgument("prepare: no split '" + split + "'");
  if (frames.scalar_type() != at::kByte || frames.dim() != 4 || frames.size(0) < 1 ||
      frames.size(1) != manifest_.height() || frames.size(2) != manifest_.width() ||
      frames.size(3) != manifest_.channels()) {
    return Status::InvalidArgument(
        name + ": frames " + std::to_string(frames.size(2)) + "x" + std::to_string(frames.size(1)) +
        "x" + std::to_string(frames.size(3)) + " differ from the dataset's " +
        std::to_string(manifest_.width()) + "x" + std::to_string(manifest_.height()) + "x" +
        std::to_string(manifest_.channels()) + " (use --size)");
  }
  if (name.find('\n') != std::string::npos) {
    return Status::InvalidArgument("prepare: sequence name has a newline: " + name);
  }
  at::Tensor c = frames.contiguous();
  const int64_t t = c.size(0);
  const uint64_t fb = uint64_t(manifest_.height()) * manifest_.width() * manifest_.channels();
  const uint8_t* p = c.data_ptr<uint8_t>();
  PutU64(&s->records, s->num_frames * fb);
  PutU64(&s->records, s->num_frames);
  PutU32(&s->records, static_cast<uint32_t>(t));
  PutU32(&s->records, static_cast<uint32_t>(static_cast<int32_t>(label)));
  for (int64_t f = 0; f < t; ++f) PutU32(&s->crcs, Crc32c(p + f * fb, fb));
  FC_RETURN_IF_ERROR(s->frames->Append(p, t * fb));
  s->names += name + "\n";
  s->min_frames = s->num_sequences == 0 ? t : std::min(s->min_frames, t);
  s->max_frames = std::max(s->max_frames, t);
  s->num_frames += t;
  s->num_sequences += 1;
  return Status::Ok();
}

Status PreparedWriter::Commit() {
  const uint64_t fb = uint64_t(manifest_.height()) * manifest_.width() * manifest_.channels();
  for (auto& s : splits_) {
    FC_RETURN_IF_ERROR(s->frames->SyncAndClose());
    std::string idx(kIndexMagic, 8);
    PutU64(&idx, s->num_sequences);
    PutU64(&idx, s->num_frames);
    PutU64(&idx, fb);
    idx += s->records;
    idx += s->crcs;
    PutU32(&idx, Crc32c(idx.data(), idx.size()));
    FC_RETURN_IF_ERROR(WriteFileAtomic(tmp_ + "/" + s->name + ".index", idx));
    FC_RETURN_IF_ERROR(WriteFileAtomic(tmp_ + "/" + s->name + ".names", s->names));
    auto* info = manifest_.add_splits();
    info->set_name(s->name);
    info->set_frames_file(s->name + ".frames");
    info->set_index_file(s->name + ".index");
    info->set_names_file(s->name + ".names");
    info->set_num_sequences(static_cast<int64_t>(s->num_sequences));
    info->set_num_frames(static_cast<int64_t>(s->num_frames));
    info->set_frames_bytes(s->num_frames * fb);
    info->set_index_bytes(idx.size());
    info->set_min_sequence_frames(s->min_frames);
    info->set_max_sequence_frames(s->max_frames);
  }
  manifest_.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  manifest_.set_framecast_version(FRAMECAST_VERSION);
  std::string text;
  google::protobuf::TextFormat::PrintToString(manifest_, &text);
  FC_RETURN_IF_ERROR(WriteFileAtomic(tmp_ + "/" + kManifestName, text));
  FC_RETURN_IF_ERROR(SyncDir(tmp_));
  std::string old;
  if (Exists(dir_)) {
    if (!overwrite_) return Status::InvalidArgument(dir_ + ": appeared during prepare");
    old = dir_ + ".old-" + std::to_string(::getpid());
    FC_RETURN_IF_ERROR(RenamePath(dir_, old));
  }
  FC_RETURN_IF_ERROR(RenamePath(tmp_, dir_));
  FC_RETURN_IF_ERROR(SyncDir(DirName(dir_)));
  committed_ = true;
  if (!old.empty()) FC_RETURN_IF_ERROR(RemoveTree(old));
  return Status::Ok();
}

}  // namespace fc::data
