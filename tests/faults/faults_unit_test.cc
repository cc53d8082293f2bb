// Unit tests of the fault handling pieces that need no real ranks: the watchdog's report, the stop
// flag, the non-finite check and its agreement over (fake) ranks, the model-config check and the
// exit statuses.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <limits>

#include "common/ranks.h"
#include "config/run_config.h"
#include "dist/watchdog.h"
#include "train/faults.h"

namespace fc {
namespace {

using dist::PeerProgress;

TEST(Watchdog, ReportNamesDeadAndLateRanks) {
  std::vector<PeerProgress> peers(4);
  for (int r = 0; r < 4; ++r) peers[r].rank = r;
  peers[1].answered = true, peers[1].entered = 42, peers[1].completed = 41;  // arrived
  peers[2].answered = false;                                                 // dead
  peers[3].answered = true, peers[3].entered = 41, peers[3].completed = 41;
  peers[3].what = "all-reduce (step-boundary flags) 0 MiB";
  const std::string s =
      dist::DescribeExpiry(0, 42, "mpi all-reduce (gradient bucket 3 of model)", 5.2, 5.0, peers);
  EXPECT_NE(s.find("rank 0 waited 5.2 s (deadline 5.0 s) in collective #42"), std::string::npos)
      << s;
  EXPECT_NE(s.find("gradient bucket 3 of model"), std::string::npos) << s;
  EXPECT_NE(s.find("rank 2 (no answer: process dead or unreachable)"), std::string::npos) << s;
  EXPECT_NE(s.find("rank 3 (has not entered it; at collective #41 (all-reduce (step-boundary"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("rank 1 ("), std::string::npos) << "rank 1 had arrived: " << s;
  EXPECT_NE(s.find("status 69"), std::string::npos) << s;
}

TEST(Watchdog, ReportWhenEveryPeerArrived) {
  std::vector<PeerProgress> peers(2);
  peers[0].rank = 0;
  peers[1] = {1, true, 7, 6, "x"};
  const std::string s = dist::DescribeExpiry(0, 7, "mpi barrier", 1, 1, peers);
  EXPECT_NE(s.find("every peer has entered it"), std::string::npos) << s;
}

TEST(Watchdog, LabelsNest) {
  EXPECT_EQ(dist::CollectiveLabel::Current(), "");
  {
    dist::CollectiveLabel a("outer");
    {
      dist::CollectiveLabel b("inner");
      EXPECT_EQ(dist::CollectiveLabel::Current(), "inner");
    }
    EXPECT_EQ(dist::CollectiveLabel::Current(), "outer");
  }
  EXPECT_EQ(dist::CollectiveLabel::Current(), "");
}

TEST(StopSignals, OnlySetAFlag) {
  train::InstallStopSignalHandlers();
  train::ResetStopSignal();
  EXPECT_EQ(train::StopSignalReceived(), 0);
  std::raise(SIGUSR1);  // would kill the process without the handler
  EXPECT_EQ(train::StopSignalReceived(), SIGUSR1);
  std::raise(SIGTERM);  // a different signal keeps the first one
  EXPECT_EQ(train::StopSignalReceived(), SIGUSR1);
  train::ResetStopSignal();
  // SLURM may deliver SIGTERM (and the launchers SIGUSR1) more than once: absorbed, not fatal.
  std::raise(SIGTERM);
  std::raise(SIGTERM);
  EXPECT_EQ(train::StopSignalReceived(), SIGTERM);
  train::ResetStopSignal();
  std::raise(SIGINT);  // once: a flag (twice would end the process, as Ctrl-C twice should)
  EXPECT_EQ(train::StopSignalReceived(), SIGINT);
  train::ResetStopSignal();
}

TEST(ExitStatus, Documented) {
  EXPECT_EQ(train::ExitStatusFor(train::StopReason::kCompleted), 0);
  EXPECT_EQ(train::ExitStatusFor(train::StopReason::kSignal), 75);
  EXPECT_EQ(train::ExitStatusFor(train::StopReason::kNonFinite), 65);
  EXPECT_EQ(dist::kWatchdogExitCode, 69);
}

TEST(NonFinite, AllFinite) {
  train::StepReport ok, nan;
  ok.scalars = {{"loss", 1.0}};
  nan.scalars = {{"loss", std::nan("")}};
  std::vector<ckpt::NamedTensor> state = {{"model/w", at::ones({3})},
                                          {"model/i", at::ones({2}, at::kLong)}};
  EXPECT_TRUE(train::AllFinite(ok, state).value());
  EXPECT_FALSE(train::AllFinite(nan, state).value());
  state[0].tensor[1] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(train::AllFinite(ok, state).value());
}

// A one-parameter trainer: each step adds 1 to the parameter; loss = parameter.
class CounterTrainer : public train::Trainer {
 public:
  std::string family() const override { return "demo"; }
  std::string Describe() const override { return "counter"; }
  Status Seek(int, int64_t, int64_t) override { return Status::Ok(); }
  Result<train::StepReport> Step(int, int64_t, int64_t) override {
    w_.add_(1);
    train::StepReport r;
    r.scalars = {{"loss", w_[0].item<double>()}};
    return r;
  }
  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override {
    return std::vector<ckpt::NamedTensor>{{"model/w", w_}};
  }
  std::vector<std::string> ReplicatedStateNames(const framecast::ckpt::Manifest&) override {
    return {"model/w"};
  }
  Status LoadReplicatedState(const train::TensorMap& from) override {
    w_.copy_(from.at("model/w"));
    return Status::Ok();
  }
  at::Tensor w_ = at::zeros({4});
};

TEST(NonFinite, AgreedOnEveryRankAndUndone) {
  framecast::RunConfig config;
  testing::RunRanks(3, [&](int rank, dist::Communicator* comm) {
    train::StepGuard guard(config, rank, 3);
    CounterTrainer t;
    for (int64_t g = 1; g <= 3; ++g) {
      ASSERT_TRUE(guard.BeforeStep(t, 0).ok());
      auto report = t.Step(0, g - 1, g - 1).value();
      if (g == 2 && rank == 1) t.w_[0] = std::nan("");  // rank 1 goes bad at step 2
      auto v = guard.AfterStep(comm, t, 0, &report, g);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(v.value().nonfinite, g == 2) << "rank " << rank << " step " << g;
      if (g == 2) {
        EXPECT_EQ(v.value().nonfinite_ranks, "1");
        ASSERT_TRUE(guard.Restore(t, 0).ok());
      }
    }
    // Steps 1 and 3 applied, step 2 undone: w == 2 everywhere, on every rank.
    EXPECT_TRUE(at::equal(t.w_, at::full({4}, 2.0f))) << "rank " << rank;
  });
}

// Two stages training disjoint parameters (a cascade): stage k changes w[k] only.
class TwoStageTrainer : public CounterTrainer {
 public:
  Result<train::StepReport> Step(int stage, int64_t, int64_t) override {
    w_[stage].add_(1);
    train::StepReport r;
    r.scalars = {{"loss", w_[stage][0].item<double>()}};
    return r;
  }
  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override {
    return std::vector<ckpt::NamedTensor>{{"model/w0", w_[0]}, {"model/w1", w_[1]}};
  }
  Status LoadReplicatedState(const train::TensorMap& from) override {
    for (int k = 0; k < 2; ++k) FC_RETURN_IF_ERROR(LoadStepState(k, from));
    return Status::Ok();
  }
  Result<std::vector<ckpt::NamedTensor>> StepState(int stage) override {
    return std::vector<ckpt::NamedTensor>{{"model/w" + std::to_string(stage), w_[stage]}};
  }
  Status LoadStepState(int stage, const train::TensorMap& from) override {
    auto it = from.find("model/w" + std::to_string(stage));
    if (it == from.end()) return Status::NotFound("no w" + std::to_string(stage));
    w_[stage].copy_(it->second);
    return Status::Ok();
  }
  at::Tensor w_[2] = {at::zeros({1000}), at::zeros({10})};
};

// The guard copies only what the stage's step can change, frees the copy of the previous stage's
// tensors, checks only them, and undoes a non-finite step of the second stage exactly.
TEST(NonFinite, GuardHoldsOnlyTheStageState) {
  framecast::RunConfig config;
  testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    train::StepGuard guard(config, rank, 2);
    TwoStageTrainer t;
    ASSERT_TRUE(guard.BeforeStep(t, 0).ok());
    EXPECT_EQ(guard.held_bytes(), 1000 * 4);
    auto report = t.Step(0, 0, 0).value();
    ASSERT_FALSE(guard.AfterStep(comm, t, 0, &report, 1).value().nonfinite);
    ASSERT_TRUE(guard.BeforeStep(t, 1).ok());
    EXPECT_EQ(guard.held_bytes(), 10 * 4) << "stage 0's copy is freed";
    report = t.Step(1, 0, 1).value();
    if (rank == 0) t.w_[1][3] = std::nan("");
    auto v = guard.AfterStep(comm, t, 1, &report, 2);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_TRUE(v.value().nonfinite);
    ASSERT_TRUE(guard.Restore(t, 1).ok());
    EXPECT_TRUE(at::equal(t.w_[0], at::ones({1000}))) << "stage 0's step stays";
    EXPECT_TRUE(at::equal(t.w_[1], at::zeros({10}))) << "stage 1's step undone";
    // A non-finite value outside the stage's state is not the stage's step's doing: not checked.
    t.w_[0][0] = std::nan("");
    ASSERT_TRUE(guard.BeforeStep(t, 1).ok());
    report = t.Step(1, 1, 2).value();
    EXPECT_FALSE(guard.AfterStep(comm, t, 1, &report, 3).value().nonfinite);
  });
}

TEST(NonFinite, StopSignalAgreed) {
  framecast::RunConfig config;
  train::ResetStopSignal();
  testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    train::StepGuard guard(config, rank, 2);
    CounterTrainer t;
    auto report = t.Step(0, 0, 0).value();
    // In-process ranks share the flag; a real job has one per process (tests/faults/*.sh).
    auto v = guard.AfterStep(comm, t, 0, &report, 1);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value().stop_signal, 0);
    EXPECT_FALSE(v.value().nonfinite);
  });
  train::InstallStopSignalHandlers();
  std::raise(SIGUSR1);
  testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    train::StepGuard guard(config, rank, 2);
    CounterTrainer t;
    auto report = t.Step(0, 0, 0).value();
    auto v = guard.AfterStep(comm, t, 0, &report, 1);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value().stop_signal, SIGUSR1) << "rank " << rank;
    EXPECT_FALSE(v.value().nonfinite);
  });
  train::ResetStopSignal();
}

TEST(ModelCheck, DifferentModelIsAnError) {
  auto a = config::ParseRunConfigText(
      "name: \"x\" model { demo { width: 16 } } stages { name: \"m\" steps: 1 }", "a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  framecast::ckpt::Manifest m;
  m.set_config_text(config::ToText(a.value()));
  EXPECT_TRUE(train::CheckSameModel(m, a.value()).ok());
  framecast::RunConfig b = a.value();
  b.mutable_stages(0)->set_steps(99);  // a longer schedule resumes fine
  EXPECT_TRUE(train::CheckSameModel(m, b).ok());
  b.mutable_model()->mutable_demo()->set_width(32);
  Status s = train::CheckSameModel(m, b);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("width"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace fc
