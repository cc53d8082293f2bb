// Checkpoints under real mpirun: bit-exact resume, and resharding (CTest runs the save role on 3
// ranks and the load role on 1, 2 and 4, through FRAMECAST_RESHARD_DIR / FRAMECAST_RESHARD_ROLE).
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <cstdlib>
#include <functional>

#include "ckpt/checkpoint.h"
#include "common/mpi_env.h"
#include "config/run_config.h"
#include "train/default_config.h"
#include "train/run.h"
#include "train/state.h"
#include "util/files.h"

namespace fc::testing {
namespace {

framecast::RunConfig Config(const std::string& dir, int64_t steps) {
  auto c = config::ParseRunConfigText(train::kDefaultConfigText, "demo");
  EXPECT_TRUE(c.ok());
  for (const std::string& s :
       {"output_dir=" + dir, "stages[0].steps=" + std::to_string(steps),
        std::string("checkpoint.every_steps=3"), std::string("data.global_batch=12"),
        std::string("data.procedural_blobs.image_size=16"), std::string("model.demo.width=8")}) {
    EXPECT_TRUE(config::ApplyOverride(&c.value(), s).ok()) << s;
  }
  config::ApplyDefaults(&c.value());
  EXPECT_TRUE(config::Validate(c.value()).ok());
  return c.value();
}

// A directory every rank agrees on, emptied by rank 0.
std::string FreshDir(const std::string& name) {
  const std::string d = "ckpt-dist-" + name + "-np" + std::to_string(g_world->size());
  if (g_world->rank() == 0) EXPECT_TRUE(fc::RemoveTree(d).ok());
  MPI_Barrier(g_world->comm());
  return d;
}

void ExpectBitwiseEqual(const train::TensorMap& a, const train::TensorMap& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << what << ": " << name;
    EXPECT_TRUE(t.scalar_type() == it->second.scalar_type() && at::equal(t, it->second))
        << what << ": " << name;
  }
}

// Train 2N steps straight; separately N, stop, resume, N more: same losses and parameters, bit
// for bit (and byte-identical checkpoint shards).
TEST(CheckpointDist, ResumeIsBitExact) {
  const std::string dir = FreshDir("resume");
  const int64_t N = 5;
  auto straight = train::RunTraining(Config(dir + "/A", 2 * N), *g_world, true);
  ASSERT_TRUE(straight.ok()) << straight.status().ToString();
  auto first = train::RunTraining(Config(dir + "/B", N), *g_world, true);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = train::RunTraining(Config(dir + "/B", 2 * N), *g_world, true);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second.value().resumed);
  EXPECT_EQ(second.value().first_global_step, N);
  std::vector<double> joined = first.value().losses;
  joined.insert(joined.end(), second.value().losses.begin(), second.value().losses.end());
  ASSERT_EQ(joined.size(), straight.value().losses.size());
  for (size_t i = 0; i < joined.size(); ++i) {
    EXPECT_EQ(joined[i], straight.value().losses[i]) << "loss of step " << i + 1 << " differs";
  }
  ExpectBitwiseEqual(straight.value().final_state, second.value().final_state, "final state");
  for (int r = 0; r < g_world->size(); ++r) {
    const std::string shard = "/checkpoints/step-00000010/shard-0000" + std::to_string(r) +
                              "-of-0000" + std::to_string(g_world->size()) + ".bin";
    auto a = fc::ReadSmallFile(dir + "/A" + shard, 1 << 30),
         b = fc::ReadSmallFile(dir + "/B" + shard, 1 << 30);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(a.value() == b.value()) << shard << " differs";
  }
}

// Checkpoints whose checksums verify but whose tensors do not fit their roles: each is damage, the
// run says why and resumes from the previous step (never an abort). The hostile step is written
// through the checkpoint library itself, so every CRC, the manifest's checksum and the shard
// headers are valid.
TEST(CheckpointDist, HostileTensorsFallBackToThePreviousStep) {
  const std::string dir = FreshDir("hostile");
  auto cfg = [&](int64_t steps) {
    framecast::RunConfig c = Config(dir, steps);
    EXPECT_TRUE(config::ApplyOverride(&c, "optimizers[0].adam.beta1=0.9").ok());
    config::ApplyDefaults(&c);
    EXPECT_TRUE(config::Validate(c).ok());
    return c;
  };
  auto first = train::RunTraining(cfg(6), *g_world, true);  // commits steps 3 and 6
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string step6 = dir + "/checkpoints/step-00000006";
  auto manifest = ckpt::ReadManifest(step6);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  auto all = ckpt::ReadTensors(step6, manifest.value(), {});
  ASSERT_TRUE(all.ok());
  std::string a_step, a_moment, a_weight;
  for (const auto& [name, t] : all.value()) {
    if (name.rfind("optim/", 0) == 0 && name.size() > 5 && name.substr(name.size() - 5) == "/step")
      a_step = name;
    if (name.rfind("optim/", 0) == 0 && name.find("/exp_avg_sq") != std::string::npos)
      a_moment = name;
    if (name.rfind("model/", 0) == 0 && t.dim() >= 2) a_weight = name;
  }
  ASSERT_FALSE(a_step.empty() || a_moment.empty() || a_weight.empty());
  const std::string rng = train::RngName(g_world->rank());
  struct Case {
    std::string what;
    std::function<void(train::TensorMap*)> edit;
  };
  const std::vector<Case> cases = {
      {"optimizer step of the wrong shape",
       [&](train::TensorMap* m) { (*m)[a_step] = at::zeros({3}, at::kFloat); }},
      {"optimizer step of the wrong dtype",
       [&](train::TensorMap* m) { (*m)[a_step] = at::full({}, 6.0, at::kDouble); }},
      {"negative optimizer step",
       [&](train::TensorMap* m) { (*m)[a_step] = at::full({}, -5, at::kLong); }},
      {"missing optimizer moment", [&](train::TensorMap* m) { m->erase(a_moment); }},
      {"moment of the wrong shape",
       [&](train::TensorMap* m) {
         (*m)[a_moment] = at::zeros({2, 2}, at::kFloat);
       }},
      {"weight of the wrong dtype",
       [&](train::TensorMap* m) { (*m)[a_weight] = (*m)[a_weight].to(at::kDouble); }},
      {"missing weight", [&](train::TensorMap* m) { m->erase(a_weight); }},
      {"generator state of the wrong dtype",
       [&](train::TensorMap* m) { (*m)[rng] = at::zeros({16}, at::kLong); }},
      {"generator state too short",
       [&](train::TensorMap* m) { (*m)[rng] = at::zeros({16}, at::kByte); }},
  };
  for (const Case& c : cases) {
    // step-6 rewritten with the hostile contents (rank-local RNG tensors stay local).
    train::TensorMap edited = all.value();
    c.edit(&edited);
    std::vector<ckpt::NamedTensor> replicated, local;
    for (auto& [name, t] : edited) {
      if (name.rfind("rank", 0) == 0) {
        if (name.rfind("rank" + std::to_string(g_world->rank()) + "/", 0) == 0)
          local.push_back({name, t});
      } else {
        replicated.push_back({name, t});
      }
    }
    auto comm = dist::MakeCommunicator(*g_world, dist::Backend::kMpi);
    ASSERT_TRUE(comm.ok());
    if (g_world->rank() == 0) ASSERT_TRUE(fc::RemoveTree(step6).ok());
    MPI_Barrier(g_world->comm());
    ASSERT_TRUE(
        ckpt::WriteCheckpoint(step6, replicated, local, manifest.value(), comm.value().get()).ok())
        << c.what;
    ASSERT_TRUE(ckpt::VerifyCheckpoint(step6).ok()) << c.what << ": the checksums must verify";
    auto resumed = train::RunTraining(cfg(6), *g_world, true);
    ASSERT_TRUE(resumed.ok()) << c.what << ": " << resumed.status().ToString();
    EXPECT_TRUE(resumed.value().resumed) << c.what;
    EXPECT_EQ(fc::BaseName(resumed.value().resumed_from), "step-00000003")
        << c.what << ": resumed from " << resumed.value().resumed_from;
    // It trained steps 4..6 again from step 3 and committed a good step 6.
    EXPECT_EQ(resumed.value().first_global_step, 3) << c.what;
    ExpectBitwiseEqual(first.value().final_state, resumed.value().final_state, c.what);
  }
}

const char* Env(const char* n) {
  const char* v = std::getenv(n);
  return v ? v : "";
}

// Role "save" (3 ranks): train, checkpoint, and record the exact final state next to it.
// Role "load" (any ranks): resume from that checkpoint into a fresh trainer: the state is equal.
TEST(CheckpointDist, Reshard) {
  const std::string dir = Env("FRAMECAST_RESHARD_DIR"), role = Env("FRAMECAST_RESHARD_ROLE");
  if (dir.empty()) GTEST_SKIP() << "run by CTest's dist.reshard.* tests (FRAMECAST_RESHARD_DIR)";
  framecast::RunConfig cfg = Config(dir + "/run", 5);
  if (role == "save") {
    if (g_world->rank() == 0) ASSERT_TRUE(fc::RemoveTree(dir).ok());
    MPI_Barrier(g_world->comm());
    auto run = train::RunTraining(cfg, *g_world, true);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    if (g_world->rank() == 0) {
      c10::Dict<std::string, at::Tensor> d;
      for (auto& [n, t] : run.value().final_state) d.insert(n, t);
      std::vector<char> bytes = torch::pickle_save(c10::IValue(d));
      ASSERT_TRUE(
          fc::WriteFileAtomic(dir + "/expected.pt", std::string(bytes.begin(), bytes.end())).ok());
    }
    return;
  }
  auto bytes = fc::ReadSmallFile(dir + "/expected.pt", 1 << 30);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto dict = torch::pickle_load(std::vector<char>(bytes.value().begin(), bytes.value().end()))
                  .toGenericDict();
  train::TensorMap expected;
  for (const auto& kv : dict) expected[kv.key().toStringRef()] = kv.value().toTensor();

  auto comm = dist::MakeCommunicator(*g_world, dist::Backend::kMpi);
  auto ckpt_comm = dist::MakeCommunicator(*g_world, dist::Backend::kMpi);
  ASSERT_TRUE(comm.ok() && ckpt_comm.ok());
  auto trainer =
      train::DemoTrainer::Create(comm.value().get(), train::DemoOptionsFor(cfg, g_world->size()));
  ASSERT_TRUE(trainer.ok());
  ckpt::Checkpointer ck(dir + "/run/checkpoints", cfg.checkpoint(), std::move(ckpt_comm).value());
  auto found = ck.FindResume([](const framecast::ckpt::Manifest&) { return Status::Ok(); },
                             [&](const framecast::ckpt::Manifest& m) {
                               return train::ReplicatedStateNames(*trainer.value(), m);
                             });
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found.value().has_value());
  EXPECT_EQ(found.value()->manifest.world_size(), 3);
  ASSERT_TRUE(train::LoadReplicatedState(*trainer.value(), found.value()->tensors).ok());
  auto state = train::ReplicatedState(*trainer.value());
  ASSERT_TRUE(state.ok());
  train::TensorMap loaded;
  for (auto& nt : state.value()) loaded[nt.name] = nt.tensor.detach().cpu();
  ExpectBitwiseEqual(expected, loaded,
                     "state loaded on " + std::to_string(g_world->size()) + " rank(s)");
}

}  // namespace
}  // namespace fc::testing
