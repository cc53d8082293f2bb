// SRVP trained data-parallel under real mpirun: the N-rank step (SyncBatchNorm in the encoder and
// decoder, GradientSync) equals the single-process step on the concatenated batch (loss, gradients,
// parameters and batch-norm running statistics), and a resume in the middle of an epoch continues
// bit-exactly.
#include <gtest/gtest.h>
#include <mpi.h>

#include "common/mpi_env.h"
#include "common/ranks.h"
#include "config/run_config.h"
#include "train/family.h"
#include "train/run.h"
#include "train/srvp_family.h"
#include "train/trainer.h"
#include "util/files.h"

namespace fc::testing {
namespace {

// A narrow SRVP with skip connections on 64x64 Moving Fashion-MNIST (SRVP generator); 12
// sequences per epoch, 6 per step, so steps cross epoch boundaries (and reshuffles) every 2 steps.
framecast::RunConfig TinySrvp(const std::string& dir, int64_t steps) {
  train::InstallFamilyConfigHooks();
  auto c = config::ParseRunConfigText(
      R"pb(
        name: "srvp_dist"
        seed: 7
        data {
          global_batch: 6
          context_frames: 2
          predicted_frames: 3
          epoch_size: 12
          loader_threads: 1
          moving_mnist { convention: SRVP image_size: 64 digit_size: 28 num_digits: 1 }
        }
        model {
          srvp {
            base_filters: 4
            frame_features: 8
            state_size: 4
            noise_size: 3
            inference_hidden: 8
            residual_hidden: 8
            residual_layers: 2
            euler_steps: 2
            skip_connections: true
            obs_scale: 0.5
          }
        }
        optimizers {
          adam {}
          lr: 1e-3
          schedule { kind: LINEAR_WARMUP warmup_start_lr: 1e-4 warmup_steps: 3 }
        }
        checkpoint { every_steps: 2 keep_last: 3 }
        logging { every_steps: 100 }
      )pb",
      "tiny srvp");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(config::ApplyOverride(&c.value(), "output_dir=" + dir).ok());
  auto* st = c.value().add_stages();
  st->set_name("main");
  st->set_steps(steps);
  config::ApplyDefaults(&c.value());
  Status v = config::Validate(c.value());
  EXPECT_TRUE(v.ok()) << v.ToString();
  return c.value();
}

std::string FreshDir(const std::string& name) {
  const std::string d = "srvp-dist-" + name + "-np" + std::to_string(g_world->size());
  if (g_world->rank() == 0) EXPECT_TRUE(fc::RemoveTree(d).ok());
  MPI_Barrier(g_world->comm());
  return d;
}

// Float64 and noise keyed by global sample position: the N-rank run and the single process see
// the same samples and the same noise, so the only differences are summation order (~1e-15 per
// operation). Tolerance 1e-9 relative per tensor after 3 Adam steps; a missed bucket, a wrong
// average or a rank reading the wrong samples shows up at 1e-3 or more.
TEST(SrvpDist, StepEqualsSingleProcessOnConcatenatedBatch) {
  auto cfg = TinySrvp(FreshDir("equal"), 3);
  auto comm = dist::MakeCommunicator(*g_world, dist::Backend::kMpi);
  ASSERT_TRUE(comm.ok());
  train::SrvpReplicaOptions o;
  o.dtype = at::kDouble;
  o.keyed_noise = true;
  auto dp = train::SrvpReplica::Create(cfg, comm.value().get(), o);
  ASSERT_TRUE(dp.ok()) << dp.status().ToString();
  auto ref = train::SrvpReplica::Create(cfg, nullptr, o);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  CopyState(*dp.value()->model(), *ref.value()->model());
  ASSERT_TRUE(dp.value()->Seek(0, 0, 0).ok());
  ASSERT_TRUE(ref.value()->Seek(0, 0, 0).ok());
  for (int64_t s = 0; s < 3; ++s) {
    auto a = dp.value()->Step(0, s, s);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto b = ref.value()->Step(0, s, s);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    double loss = a.value().scalars[0].second;
    MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_DOUBLE, MPI_SUM, g_world->comm());
    loss /= g_world->size();
    const double want = b.value().scalars[0].second;
    EXPECT_LE(std::abs(loss - want), 1e-10 * std::abs(want)) << "step " << s << " loss";
    auto gp = dp.value()->model()->named_parameters();
    auto rp = ref.value()->model()->named_parameters();
    for (const auto& item : gp) {
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      EXPECT_LE(RelDiff(item.value().grad(), rp[item.key()].grad()), 1e-9)
          << "step " << s << " gradient of " << item.key();
      EXPECT_LE(RelDiff(item.value(), rp[item.key()]), 1e-9) << "step " << s << " " << item.key();
    }
    // Batch-norm running statistics of the global batch.
    auto gb = dp.value()->model()->named_buffers();
    auto rb = ref.value()->model()->named_buffers();
    for (const auto& item : gb) {
      if (!item.value().is_floating_point()) {
        EXPECT_TRUE(at::equal(item.value(), rb[item.key()])) << item.key();
        continue;
      }
      EXPECT_LE(RelDiff(item.value(), rb[item.key()]), 1e-9) << "step " << s << " " << item.key();
    }
  }
  // Replicas stay bitwise identical.
  at::Tensor mine = FlatState(*dp.value()->model());
  at::Tensor all = at::empty({mine.numel() * g_world->size()}, mine.options());
  ASSERT_TRUE(comm.value()->AllGather(mine, all)->Wait().ok());
  for (int q = 0; q < g_world->size(); ++q) {
    EXPECT_TRUE(at::equal(all.narrow(0, q * mine.numel(), mine.numel()), mine))
        << "rank " << g_world->rank() << " differs from rank " << q;
  }
}

// 5 steps straight vs 3 steps (stopping mid-epoch: 2 steps per epoch), then a resume to 5: the
// same per-step losses and the same final state, bit for bit.
TEST(SrvpDist, ResumeMidEpochIsBitExact) {
  const std::string dir = FreshDir("resume");
  auto straight = train::RunTraining(TinySrvp(dir + "/A", 5), *g_world, true);
  ASSERT_TRUE(straight.ok()) << straight.status().ToString();
  auto cfg3 = TinySrvp(dir + "/B", 5);
  cfg3.mutable_stages(0)->set_steps(5);
  cfg3.mutable_checkpoint()->set_every_steps(3);
  // Stop after step 3 by training a 3-step run in the same directory first.
  auto short_cfg = cfg3;
  short_cfg.mutable_stages(0)->set_steps(3);
  auto first = train::RunTraining(short_cfg, *g_world, true);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = train::RunTraining(cfg3, *g_world, true);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(second.value().resumed);
  EXPECT_EQ(second.value().first_global_step, 3);
  ASSERT_EQ(straight.value().losses.size(), 5u);
  ASSERT_EQ(second.value().losses.size(), 2u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(first.value().losses[i], straight.value().losses[i]) << "step " << i;
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(second.value().losses[i], straight.value().losses[3 + i]) << "step " << 3 + i;
  const auto& a = straight.value().final_state;
  const auto& b = second.value().final_state;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_TRUE(at::equal(t, it->second)) << name << " differs after resume";
  }
}

}  // namespace
}  // namespace fc::testing
