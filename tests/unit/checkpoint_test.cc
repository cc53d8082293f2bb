// Checkpoint format on in-process ranks: round trip on any number of ranks, CRC-32C against its
// reference, damage and hostile manifests detected with file and tensor named, retention, resume
// falling back past a damaged step.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "ckpt/checkpointer.h"
#include "ckpt/manifest_check.h"
#include "common/ranks.h"
#include "util/crc32c.h"
#include "util/digest.h"
#include "util/files.h"

namespace fc::testing {
namespace {

using ckpt::NamedTensor;

std::string TempDir(const std::string& tag) {
  std::string d = "/tmp/fc-ckpt-" + tag + "-" + std::to_string(getpid());
  EXPECT_TRUE(fc::RemoveTree(d).ok());
  EXPECT_TRUE(fc::MakeDirs(d).ok());
  return d;
}

// The same tensors for the same seed on every in-process rank: drawn from a generator of its own
// (the rank threads run this at once; the global generator would interleave their draws).
std::vector<NamedTensor> State(int64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  auto randn = [&](at::IntArrayRef size, at::ScalarType type) {
    return at::randn(size, gen, at::TensorOptions().dtype(type));
  };
  return {{"model/a.weight", randn({64, 33}, at::kFloat)},
          {"model/b.bias", randn({7}, at::kDouble)},
          {"model/c", randn({1000}, at::kFloat).to(at::kBFloat16)},
          {"model/steps", at::full({}, 42, at::kLong)},
          {"model/empty", at::empty({0, 3})},
          {"optim/x/momentum_buffer", randn({128, 8}, at::kFloat)}};
}

framecast::ckpt::Manifest Meta(int64_t step) {
  framecast::ckpt::Manifest m;
  m.set_run_name("test");
  m.set_model_family("demo");
  m.set_global_step(step);
  m.set_step(step);
  return m;
}

// Writes a checkpoint of State(seed) at `step` on `ranks` in-process ranks.
void Write(const std::string& step_dir, int ranks, int64_t seed, int64_t step) {
  RunRanks(ranks, [&](int r, dist::Communicator* c) {
    std::vector<NamedTensor> local = {
        {"rank" + std::to_string(r) + "/rng/cpu", at::full({5}, r, at::kByte)}};
    Status s = ckpt::WriteCheckpoint(step_dir, State(seed), local, Meta(step), c);
    ASSERT_TRUE(s.ok()) << s.ToString();
  });
}

void ExpectSameState(const std::map<std::string, at::Tensor>& got, int64_t seed) {
  for (const auto& nt : State(seed)) {
    auto it = got.find(nt.name);
    ASSERT_NE(it, got.end()) << nt.name;
    EXPECT_EQ(it->second.scalar_type(), nt.tensor.scalar_type()) << nt.name;
    EXPECT_TRUE(at::equal(it->second, nt.tensor)) << nt.name;
  }
}

TEST(Crc32c, MatchesReferenceAndKnownVector) {
  const char* v = "123456789";
  EXPECT_EQ(fc::Crc32cReference(v, 9), 0xE3069283u);  // the standard check value
  EXPECT_EQ(fc::Crc32c(v, 9), 0xE3069283u);
  std::mt19937 rng(1);
  std::vector<uint8_t> buf(10007);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{63}, size_t{4096}, buf.size()}) {
    EXPECT_EQ(fc::Crc32c(buf.data(), n), fc::Crc32cReference(buf.data(), n))
        << n << " bytes, " << fc::Crc32cImplementation();
  }
  uint32_t c = fc::Crc32cExtend(0, buf.data(), 100);
  EXPECT_EQ(fc::Crc32cExtend(c, buf.data() + 100, 900), fc::Crc32c(buf.data(), 1000));
}

TEST(Checkpoint, RoundTripOnAnyNumberOfRanks) {
  const std::string dir = TempDir("roundtrip");
  for (int writers : {1, 2, 3}) {
    const std::string step_dir = dir + "/w" + std::to_string(writers) + "/" + ckpt::StepDirName(5);
    Write(step_dir, writers, 7, 5);
    auto m = ckpt::ReadManifest(step_dir);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m.value().world_size(), writers);
    EXPECT_EQ(m.value().tensors_size(), 6 + writers);  // replicated + one RNG per rank
    EXPECT_TRUE(ckpt::VerifyCheckpoint(step_dir).ok());
    // Any reader: every tensor back, bit for bit.
    auto t = ckpt::ReadTensors(step_dir, m.value(), {});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ExpectSameState(t.value(), 7);
  }
  fc::RemoveTree(dir).ok();
}

TEST(Checkpoint, ShardsAreBalancedBySize) {
  // Largest first to the least-loaded rank: 100 -> r0, 90 -> r1, 80 -> r1, 10 -> r0, 10 -> r0.
  EXPECT_EQ(ckpt::AssignShards({100, 90, 10, 10, 80}, 2), (std::vector<int>{0, 1, 0, 0, 1}));
  // Equal sizes spread evenly; more ranks than tensors leaves some ranks empty.
  EXPECT_EQ(ckpt::AssignShards({8, 8, 8, 8, 8, 8}, 3), (std::vector<int>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(ckpt::AssignShards({5}, 4), (std::vector<int>{0}));
}

class Damage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("damage");
    step_ = dir_ + "/checkpoints/" + ckpt::StepDirName(3);
    Write(step_, 2, 11, 3);
    auto m = ckpt::ReadManifest(step_);
    ASSERT_TRUE(m.ok());
    manifest_ = m.value();
  }
  void TearDown() override { fc::RemoveTree(dir_).ok(); }
  const framecast::ckpt::TensorRecord& Record(const std::string& name) {
    for (const auto& r : manifest_.tensors()) {
      if (r.name() == name) return r;
    }
    ADD_FAILURE() << "no record " << name;
    return manifest_.tensors(0);
  }
  Status ReadAll() {
    auto m = ckpt::ReadManifest(step_);
    if (!m.ok()) return m.status();
    return ckpt::ReadTensors(step_, m.value(), {}).status();
  }
  void RewriteManifest(const std::function<void(framecast::ckpt::Manifest*)>& edit) {
    framecast::ckpt::Manifest m = manifest_;
    edit(&m);
    // With a valid checksum around the wrong contents: the field checks must catch them.
    ASSERT_TRUE(fc::WriteFileAtomic(step_ + "/MANIFEST.pb", ckpt::EncodeManifest(m)).ok());
  }
  std::string dir_, step_;
  framecast::ckpt::Manifest manifest_;
};

TEST_F(Damage, FlippedByteNamesFileTensorAndOffset) {
  const auto& r = Record("model/a.weight");
  {
    std::fstream f(step_ + "/" + r.file(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(r.offset() + 17));
    char c;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(r.offset() + 17));
    c ^= 0x10;
    f.write(&c, 1);
  }
  for (Status s : {ckpt::VerifyCheckpoint(step_), ReadAll()}) {
    EXPECT_EQ(s.code(), Status::Code::kCorruption);
    EXPECT_NE(s.message().find(r.file()), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("tensor model/a.weight at offset " + std::to_string(r.offset())),
              std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("CRC32C mismatch"), std::string::npos) << s.message();
  }
}

TEST_F(Damage, TruncatedShard) {
  const auto& r = Record("model/a.weight");
  ASSERT_EQ(::truncate((step_ + "/" + r.file()).c_str(), static_cast<off_t>(r.offset() + 10)), 0);
  Status s = ckpt::VerifyCheckpoint(step_);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("truncated shard"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(r.file()), std::string::npos) << s.message();
  EXPECT_FALSE(ReadAll().ok());
}

TEST_F(Damage, MissingShard) {
  ASSERT_TRUE(fc::RemoveFile(step_ + "/shard-00001-of-00002.bin").ok());
  Status s = ckpt::VerifyCheckpoint(step_);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("shard-00001-of-00002.bin: shard file missing"), std::string::npos)
      << s.message();
}

TEST_F(Damage, HostileManifests) {
  struct Case {
    const char* what;
    std::function<void(framecast::ckpt::Manifest*)> edit;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"dot-dot path", [](auto* m) { m->mutable_tensors(0)->set_file("../../etc/passwd"); },
       "is not one of the shard files"},
      {"absolute shard name", [](auto* m) { m->set_shard_files(0, "/etc/passwd"); },
       "expected 'shard-00000-of-00002.bin'"},
      {"absurd length", [](auto* m) { m->mutable_tensors(0)->set_length(1ull << 60); },
       "does not match its shape"},
      {"absurd shape",
       [](auto* m) {
         auto* r = m->mutable_tensors(0);
         r->clear_shape();
         r->add_shape(1ll << 40);
         r->add_shape(1ll << 40);
       },
       "shape out of range"},
      {"negative dim", [](auto* m) { m->mutable_tensors(0)->set_shape(0, -4); },
       "shape out of range"},
      {"absurd offset", [](auto* m) { m->mutable_tensors(0)->set_offset(~0ull); }, "out of range"},
      {"offset past the end", [](auto* m) { m->mutable_tensors(0)->set_offset(1ull << 40); },
       "past the end of the file"},
      {"unknown dtype", [](auto* m) { m->mutable_tensors(0)->set_dtype("complex512"); },
       "unknown dtype"},
      {"world size", [](auto* m) { m->set_world_size(1 << 30); }, "world_size"},
      {"duplicate name", [](auto* m) { m->mutable_tensors(1)->set_name(m->tensors(0).name()); },
       "duplicate"},
      {"negative stage index", [](auto* m) { m->set_stage_index(-3); },
       "stage_index -3 out of range"},
      {"stage index past the stages",
       [](auto* m) {
         m->clear_stages();
         m->add_stages()->set_name("a");
         m->set_stage_index(1);
       },
       "stage_index 1 out of range"},
      {"negative step", [](auto* m) { m->set_step(-1); }, "step -1 out of range"},
      {"global step below the step",
       [](auto* m) {
         m->set_step(5);
         m->set_global_step(2);
       },
       "global_step 2 out of range"},
      {"negative steps done",
       [](auto* m) {
         m->clear_stages();
         m->add_stages()->set_steps_done(-7);
         m->set_stage_index(0);
       },
       "stages[0].steps_done -7"},
      {"unknown stage state",
       [](auto* m) {
         m->clear_stages();
         m->add_stages()->set_state(static_cast<framecast::ckpt::StageStatus::State>(9));
         m->set_stage_index(0);
       },
       "stages[0].state 9"},
      {"negative data position", [](auto* m) { m->set_data_position(-1); }, "data_position"},
      {"config text changed under its digest",
       [](auto* m) {
         m->set_config_text("name: \"a\"\n");
         m->set_config_digest(Fnv1a64Hex("name: \"b\"\n"));
       },
       "config_text does not match its config_digest"},
  };
  for (const Case& c : cases) {
    RewriteManifest(c.edit);
    Status s = ReadAll();
    EXPECT_FALSE(s.ok()) << c.what;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.what << ": " << s.message();
  }
  // A version-2 manifest whose bytes changed under its checksum (every single-bit flip of the
  // serialisation is caught), one without its trailer, and the trailer's CRC itself damaged.
  {
    const std::string good = ckpt::EncodeManifest(manifest_);
    for (size_t bit = 0; bit < (good.size() - 12) * 8; bit += 7) {
      std::string bad = good;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      auto m = ckpt::DecodeManifest(bad, "m");
      ASSERT_FALSE(m.ok()) << "bit " << bit;
    }
    auto cut = ckpt::DecodeManifest(good.substr(0, good.size() - 12), "m");
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.status().message().find("without its checksum trailer"), std::string::npos)
        << cut.status().message();
    std::string crc = good;
    crc.back() = static_cast<char>(crc.back() ^ 0x10);
    auto c = ckpt::DecodeManifest(crc, "m");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("checksum mismatch"), std::string::npos);
    // An unknown version under a valid trailer.
    framecast::ckpt::Manifest v99 = manifest_;
    v99.set_format_version(99);
    std::string b99 = v99.SerializeAsString();
    const uint32_t crc99 = fc::Crc32c(b99.data(), b99.size());
    b99 += "FCMANIF2";
    for (int i = 0; i < 4; ++i) b99.push_back(static_cast<char>((crc99 >> (8 * i)) & 0xff));
    auto f99 = ckpt::DecodeManifest(b99, "m");
    ASSERT_FALSE(f99.ok());
    EXPECT_NE(f99.status().message().find("format_version 99"), std::string::npos);
    // A version-1 manifest (no trailer) from an earlier framecast still reads.
    framecast::ckpt::Manifest v1 = manifest_;
    v1.set_format_version(1);
    auto old = ckpt::DecodeManifest(v1.SerializeAsString(), "m");
    EXPECT_TRUE(old.ok()) << old.status().ToString();
  }
  // Garbage bytes as a manifest.
  ASSERT_TRUE(fc::WriteFileAtomic(step_ + "/MANIFEST.pb", std::string(1000, '\xff')).ok());
  EXPECT_EQ(ckpt::ReadManifest(step_).status().code(), Status::Code::kCorruption);
}

TEST(Checkpointer, ResumeSkipsDamagedStepAndRefusesAnotherRun) {
  const std::string dir = TempDir("resume") + "/checkpoints";
  Write(dir + "/" + ckpt::StepDirName(2), 1, 2, 2);
  Write(dir + "/" + ckpt::StepDirName(4), 1, 4, 4);
  // Damage the newest step.
  auto m4 = ckpt::ReadManifest(dir + "/" + ckpt::StepDirName(4)).value();
  const auto& r = m4.tensors(0);
  ASSERT_EQ(::truncate((dir + "/" + ckpt::StepDirName(4) + "/" + r.file()).c_str(), 100), 0);
  RunRanks(1, [&](int, dist::Communicator* c) {
    dist::FakeHub hub(1);
    ckpt::Checkpointer ck(dir, framecast::CheckpointConfig(), hub.Make(0));
    auto ok = [](const framecast::ckpt::Manifest&) { return Status::Ok(); };
    auto all = [](const framecast::ckpt::Manifest& m) {
      std::vector<std::string> n;
      for (const auto& t : m.tensors()) n.push_back(t.name());
      return n;
    };
    auto res = ck.FindResume(ok, all);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    ASSERT_TRUE(res.value().has_value());
    EXPECT_EQ(res.value()->manifest.global_step(), 2);  // step 4 was damaged
    ExpectSameState(res.value()->tensors, 2);
    auto other = [](const framecast::ckpt::Manifest&) {
      return Status::InvalidArgument("written by run 'x'");
    };
    auto refused = ck.FindResume(other, all);
    EXPECT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("written by run 'x'"), std::string::npos);
  });
  fc::RemoveTree(fc::DirName(dir)).ok();
}

TEST(Checkpointer, RetentionKeepsLastKAndEveryMth) {
  const std::string dir = TempDir("retention") + "/checkpoints";
  framecast::CheckpointConfig cfg;
  cfg.set_keep_last(2);
  cfg.set_keep_every(4);
  dist::FakeHub hub(1);
  {
    ckpt::Checkpointer ck(dir, cfg, hub.Make(0));
    for (int64_t step = 1; step <= 9; ++step) {
      ASSERT_TRUE(ck.Save(State(step), {}, Meta(step)).ok());
    }
    ASSERT_TRUE(ck.Wait().ok());
  }
  std::vector<int64_t> kept;
  for (const auto& [s, p] : ckpt::CommittedSteps(dir)) kept.push_back(s);
  EXPECT_EQ(kept, (std::vector<int64_t>{4, 8, 9}));
  fc::RemoveTree(fc::DirName(dir)).ok();
}

}  // namespace
}  // namespace fc::testing
