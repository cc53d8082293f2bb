// The cascade coordinator (train/cvg_family.h): the 2-rank GAN iteration equals the single-process
// iteration on the concatenated batch, a level-2 iteration leaves the frozen level 1 untouched,
// and spectral-norm vectors stay identical across ranks and survive a state round trip exactly.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/cvg_testing.h"
#include "common/ranks.h"
#include "config/run_config.h"
#include "nn/spectral_norm.h"
#include "train/cvg_family.h"
#include "train/trainer.h"

namespace fc::testing {
namespace {

framecast::RunConfig TinyCascade() {
  return TinyCascadeConfig("cvg_unit", 2, "output_dir: \"cvg-unit-run\"");
}

train::CvgReplicaOptions Exact() {
  train::CvgReplicaOptions o;
  o.dtype = at::kDouble;
  o.keyed_noise = true;
  o.loader_threads = 1;
  return o;
}

std::unique_ptr<train::CvgReplica> Make(const framecast::RunConfig& c, dist::Communicator* comm,
                                        const train::CvgReplicaOptions& o) {
  auto r = train::CvgReplica::Create(c, comm, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

void CopyAll(train::CvgReplica& from, train::CvgReplica& to) {
  for (int l = 0; l < from.num_levels(); ++l) {
    CopyState(*from.level(l).generator, *to.level(l).generator);
    CopyState(*from.level(l).discriminators, *to.level(l).discriminators);
  }
}

// Runs `iterations` iterations of level 1, ends the stage, then `iterations` of level 2.
void Train(train::CvgReplica& r, int iterations, std::vector<double>* losses) {
  int64_t global = 0;
  for (int stage = 0; stage < 2; ++stage) {
    ASSERT_TRUE(r.Seek(stage, global).ok());
    for (int s = 0; s < iterations; ++s, ++global) {
      auto rep = r.Step(stage, s, global);
      ASSERT_TRUE(rep.ok()) << rep.status().ToString();
      losses->push_back(rep.value().scalars[0].second);
      losses->push_back(rep.value().scalars[1].second);
    }
    if (stage == 0) ASSERT_TRUE(r.EndStage(0).ok());
  }
}

std::vector<at::Tensor> SnVectors(torch::nn::Module& m) {
  std::vector<at::Tensor> u;
  for (auto& item : m.named_buffers()) {
    const std::string& k = item.key();
    if (k.size() >= 2 && k.compare(k.size() - 2, 2, ".u") == 0) u.push_back(item.value());
  }
  return u;
}

// Float64, draws keyed by global sample position (Adam eps 1e-4, see below): 2 ranks x 2 clips and
// 1 process x 4 clips see the same clips, noise, labels, windows and D_S frames; BN statistics are
// synchronised. After 2 iterations per level (4 D steps and 2 G steps each) every parameter and
// buffer agrees to 1e-9 relative; a missed all-reduce, an unsynchronised BN or a rank reading the
// wrong samples differs at 1e-3 or more.
TEST(CvgTrain, TwoRankIterationEqualsSingleProcess) {
  const auto cfg = TinyCascade();
  auto ref = Make(cfg, nullptr, Exact());
  ASSERT_NE(ref, nullptr);
  std::vector<double> ref_losses;
  std::map<int, std::vector<double>> losses;
  std::map<int, std::map<std::string, at::Tensor>> state;
  std::mutex mu;
  // Build the reference's initial state first; every rank copies it (parameters and SN vectors).
  auto init = Make(cfg, nullptr, Exact());
  CopyAll(*init, *ref);
  Train(*ref, 2, &ref_losses);
  RunRanks(2, [&](int rank, dist::Communicator* comm) {
    auto r = Make(cfg, comm, Exact());
    ASSERT_NE(r, nullptr);
    CopyAll(*init, *r);
    std::vector<double> mine;
    Train(*r, 2, &mine);
    std::lock_guard<std::mutex> lock(mu);
    losses[rank] = mine;
    for (int l = 0; l < 2; ++l) {
      for (auto& item : r->level(l).generator->named_parameters())
        state[rank]["G" + std::to_string(l) + item.key()] = item.value().detach().clone();
      for (auto& item : r->level(l).generator->named_buffers())
        state[rank]["Gb" + std::to_string(l) + item.key()] = item.value().detach().clone();
      for (auto& item : r->level(l).discriminators->named_parameters())
        state[rank]["D" + std::to_string(l) + item.key()] = item.value().detach().clone();
      for (auto& item : r->level(l).discriminators->named_buffers())
        state[rank]["Db" + std::to_string(l) + item.key()] = item.value().detach().clone();
    }
  });
  ASSERT_EQ(losses.size(), 2u);
  for (size_t i = 0; i < ref_losses.size(); ++i) {
    const double mean = (losses[0][i] + losses[1][i]) / 2;
    EXPECT_NEAR(mean, ref_losses[i], 1e-9 * std::max(1.0, std::abs(ref_losses[i]))) << "loss " << i;
  }
  std::map<std::string, at::Tensor> want;
  for (int l = 0; l < 2; ++l) {
    for (auto& item : ref->level(l).generator->named_parameters())
      want["G" + std::to_string(l) + item.key()] = item.value();
    for (auto& item : ref->level(l).generator->named_buffers())
      want["Gb" + std::to_string(l) + item.key()] = item.value();
    for (auto& item : ref->level(l).discriminators->named_parameters())
      want["D" + std::to_string(l) + item.key()] = item.value();
    for (auto& item : ref->level(l).discriminators->named_buffers())
      want["Db" + std::to_string(l) + item.key()] = item.value();
  }
  ASSERT_EQ(state[0].size(), want.size());
  for (auto& [name, w] : want) {
    if (!at::isFloatingType(w.scalar_type())) continue;
    // Absolute below magnitude 1: conv biases in front of a BN have a zero gradient up to
    // rounding, and stay near 0 (Adam's eps 1e-4 keeps rounding noise from being amplified).
    const double scale = std::max(1.0, w.abs().max().item<double>());
    EXPECT_LE((state[0][name] - w).abs().max().item<double>(), 1e-9 * scale) << name;
    EXPECT_TRUE(at::equal(state[0][name], state[1][name])) << name << " differs across ranks";
  }
  // The networks did train: level-2 G and D moved away from the initial state.
  EXPECT_GT(
      RelDiff(want["G1stem.weight"], init->level(1).generator->named_parameters()["stem.weight"]),
      1e-6);
}

// Level 2 iterations with level 1 frozen: level 1's G and D parameters and buffers stay bit for
// bit, and none of them has a gradient.
TEST(CvgTrain, Level2StepLeavesFrozenLevel1Untouched) {
  const auto cfg = TinyCascade();
  RunRanks(2, [&](int rank, dist::Communicator* comm) {
    auto r = Make(cfg, comm, Exact());
    ASSERT_NE(r, nullptr);
    ASSERT_TRUE(r->Seek(1, 0).ok());
    const at::Tensor g_before = FlatState(*r->level(0).generator).clone();
    const at::Tensor d_before = FlatState(*r->level(0).discriminators).clone();
    const at::Tensor g2_before = FlatState(*r->level(1).generator).clone();
    for (int s = 0; s < 2; ++s) ASSERT_TRUE(r->Step(1, s, s).ok());
    EXPECT_TRUE(at::equal(FlatState(*r->level(0).generator), g_before)) << "rank " << rank;
    EXPECT_TRUE(at::equal(FlatState(*r->level(0).discriminators), d_before)) << "rank " << rank;
    EXPECT_FALSE(at::equal(FlatState(*r->level(1).generator), g2_before)) << "level 2 trained";
    for (auto& p : r->level(0).generator->named_parameters()) {
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
      EXPECT_FALSE(p.value().requires_grad()) << p.key();
    }
    for (auto& p : r->level(0).discriminators->named_parameters())
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
  });
}

// The step guard copies LevelState(stage) instead of the whole replicated state: every tensor a
// step of either level changes must be in it, and loading a copy taken before the step undoes the
// step exactly (the full replicated state equals the one before, bit for bit). Each step is undone
// and the next one trains on from there, as the run loop's `nonfinite: NONFINITE_SKIP` does.
TEST(CvgTrain, LevelStateHoldsAllAStepChanges) {
  const auto cfg = TinyCascade();
  auto r = Make(cfg, nullptr, Exact());
  ASSERT_NE(r, nullptr);
  auto snapshot = [&](std::vector<ckpt::NamedTensor> state) {
    train::TensorMap m;
    for (auto& nt : state) m.emplace(nt.name, nt.tensor.detach().clone());
    return m;
  };
  int64_t global = 0;
  for (int stage = 0; stage < 2; ++stage) {
    ASSERT_TRUE(r->Seek(stage, global).ok());
    for (int s = 0; s < 2; ++s, ++global) {
      const auto before = snapshot(r->ReplicatedState().value());
      const auto level_before = snapshot(r->LevelState(stage).value());
      ASSERT_TRUE(r->Step(stage, s, global).ok());
      const auto after = snapshot(r->ReplicatedState().value());
      const auto level_after = snapshot(r->LevelState(stage).value());
      int changed = 0;
      for (const auto& [name, t] : after) {  // changed, or new (the first step's Adam moments)
        if (before.count(name) && at::equal(before.at(name), t)) continue;
        ++changed;
        EXPECT_TRUE(level_after.count(name))
            << "level " << stage + 1 << " step changed " << name << ", which its LevelState lacks";
      }
      EXPECT_GT(changed, 0);
      const std::string level = "level" + std::to_string(stage + 1) + "/";
      for (const auto& [name, t] : level_after) {
        EXPECT_TRUE(name.rfind("model/" + level, 0) == 0 || name.rfind("optim/" + level, 0) == 0)
            << name;
      }
      ASSERT_TRUE(r->LoadLevelState(stage, level_before).ok());
      const auto undone = snapshot(r->ReplicatedState().value());
      ASSERT_EQ(undone.size(), before.size());
      for (const auto& [name, t] : undone) {
        ASSERT_TRUE(before.count(name)) << name;
        EXPECT_TRUE(at::equal(before.at(name), t)) << "not undone: " << name;
      }
    }
    if (stage == 0) ASSERT_TRUE(r->EndStage(0).ok());
  }
  EXPECT_FALSE(r->LoadLevelState(2, {}).ok()) << "a two-level cascade has no level 3";
}

// Spectral-norm u vectors: identical on both ranks after iterations of both levels, and a
// replica loaded from the saved state has them bit for bit; both continue identically.
TEST(CvgTrain, SpectralNormVectorsReplicatedAndRestoredExactly) {
  const auto cfg = TinyCascade();
  std::map<int, std::vector<at::Tensor>> us;
  std::mutex mu;
  RunRanks(2, [&](int rank, dist::Communicator* comm) {
    auto r = Make(cfg, comm, Exact());
    ASSERT_NE(r, nullptr);
    std::vector<double> losses;
    Train(*r, 1, &losses);
    std::vector<at::Tensor> u;
    for (int l = 0; l < 2; ++l) {
      for (auto& t : SnVectors(*r->level(l).generator)) u.push_back(t.clone());
      for (auto& t : SnVectors(*r->level(l).discriminators)) u.push_back(t.clone());
    }
    ASSERT_FALSE(u.empty());
    // Round trip through the checkpointed state into a fresh replica.
    auto saved = r->ReplicatedState();
    ASSERT_TRUE(saved.ok());
    train::TensorMap map;
    for (auto& nt : saved.value()) map[nt.name] = nt.tensor.detach().clone();
    auto fresh = Make(cfg, comm, Exact());
    ASSERT_NE(fresh, nullptr);
    ASSERT_TRUE(fresh->LoadReplicatedState(map).ok());
    std::vector<at::Tensor> u2;
    for (int l = 0; l < 2; ++l) {
      for (auto& t : SnVectors(*fresh->level(l).generator)) u2.push_back(t);
      for (auto& t : SnVectors(*fresh->level(l).discriminators)) u2.push_back(t);
    }
    ASSERT_EQ(u.size(), u2.size());
    for (size_t i = 0; i < u.size(); ++i) EXPECT_TRUE(at::equal(u[i], u2[i])) << "u " << i;
    // Both continue level 2 for one more iteration identically.
    ASSERT_TRUE(fresh->Seek(1, 2).ok());
    ASSERT_TRUE(r->Seek(1, 2).ok());
    ASSERT_TRUE(r->Step(1, 1, 2).ok());
    ASSERT_TRUE(fresh->Step(1, 1, 2).ok());
    EXPECT_TRUE(
        at::equal(FlatState(*r->level(1).generator), FlatState(*fresh->level(1).generator)));
    EXPECT_TRUE(at::equal(FlatState(*r->level(1).discriminators),
                          FlatState(*fresh->level(1).discriminators)));
    std::lock_guard<std::mutex> lock(mu);
    us[rank] = u;
  });
  ASSERT_EQ(us.size(), 2u);
  for (size_t i = 0; i < us[0].size(); ++i)
    EXPECT_TRUE(at::equal(us[0][i], us[1][i])) << "u " << i << " differs across ranks";
}

}  // namespace
}  // namespace fc::testing
