// The demo workload as a run-loop Trainer (train/trainer.h) and its checkpoint state.
#include <algorithm>

#include "train/family.h"
#include "train/performance.h"
#include "train/run.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace fc::train {

using framecast::RunConfig;
using framecast::ckpt::Manifest;

DemoOptions DemoOptionsFor(const RunConfig& c, int world_size) {
  DemoOptions o;
  o.per_rank_batch =
      c.data().global_batch() / (static_cast<int64_t>(world_size) * c.accumulation_steps());
  o.accumulation = c.accumulation_steps();
  o.image_size = c.data().procedural_blobs().image_size();
  o.width = c.model().demo().width();
  o.sync_bn = c.model().demo().sync_bn();
  o.seed = c.seed();
  const auto& opt = c.optimizers(0);
  o.lr = opt.lr();
  o.weight_decay = opt.weight_decay();
  if (opt.has_adam()) {
    o.optimizer = DemoOptions::Optimizer::kAdam;
    o.beta1 = opt.adam().beta1();
    o.beta2 = opt.adam().beta2();
    o.eps = opt.adam().eps();
  } else {
    o.optimizer = DemoOptions::Optimizer::kSgd;
    o.momentum = opt.sgd().momentum();
  }
  o.sync = SyncOptionsFor(c.dist());
  return o;
}

Result<std::vector<ckpt::NamedTensor>> ReplicatedState(DemoTrainer& t) {
  auto state = ModuleState(*t.net(), "model/demo");
  FC_ASSIGN_OR_RETURN(auto opt, OptimizerState(t.optimizer(), *t.net(), "optim/model"));
  state.insert(state.end(), opt.begin(), opt.end());
  return state;
}

std::vector<std::string> ReplicatedStateNames(DemoTrainer& t, const Manifest& m) {
  std::vector<std::string> names;
  for (const auto& nt : ModuleState(*t.net(), "model/demo")) names.push_back(nt.name);
  for (const auto& r : m.tensors()) {
    if (r.name().rfind("optim/model/", 0) == 0) names.push_back(r.name());
  }
  return names;
}

Status LoadReplicatedState(DemoTrainer& t, const TensorMap& from) {
  FC_RETURN_IF_ERROR(LoadModuleState(*t.net(), "model/demo", from));
  return LoadOptimizerState(t.optimizer(), *t.net(), "optim/model", from);
}

namespace {

// The demo step with the config's learning-rate schedule.
class DemoRunTrainer : public Trainer {
 public:
  DemoRunTrainer(const RunConfig& c, std::unique_ptr<DemoTrainer> t, DemoOptions o)
      : config_(c), trainer_(std::move(t)), options_(o) {}
  std::string family() const override { return "demo"; }
  std::string Describe() const override {
    return "per-rank batch " + std::to_string(options_.per_rank_batch) + " x " +
           std::to_string(options_.accumulation) + " micro-batch(es)";
  }
  Status Seek(int, int64_t, int64_t) override { return Status::Ok(); }
  Result<StepReport> Step(int stage, int64_t step, int64_t global_step) override {
    const double lr = LearningRateAt(config_.optimizers(0), step, config_.stages(stage).steps());
    trainer_->SetLearningRate(lr);
    FC_ASSIGN_OR_RETURN(double loss, trainer_->Step(global_step));
    StepReport r;
    r.scalars.emplace_back("loss", loss);
    r.scalars.emplace_back("lr", lr);
    return r;
  }
  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override {
    return train::ReplicatedState(*trainer_);
  }
  std::vector<std::string> ReplicatedStateNames(const Manifest& m) override {
    return train::ReplicatedStateNames(*trainer_, m);
  }
  Status LoadReplicatedState(const TensorMap& from) override {
    return train::LoadReplicatedState(*trainer_, from);
  }

 private:
  RunConfig config_;
  std::unique_ptr<DemoTrainer> trainer_;
  DemoOptions options_;
};

}  // namespace

Result<std::unique_ptr<Trainer>> MakeDemoTrainer(const RunConfig& config, const dist::World& world,
                                                 dist::Communicator* comm) {
  if (!config.data().has_procedural_blobs())
    return Status::InvalidArgument("data: the demo family trains on procedural_blobs");
  DemoOptions o = DemoOptionsFor(config, world.size());
  o.device = TorchDevice(world);
  FC_ASSIGN_OR_RETURN(auto trainer, DemoTrainer::Create(comm, o));
  return std::unique_ptr<Trainer>(new DemoRunTrainer(config, std::move(trainer), o));
}

namespace {

class DemoFamilyImpl : public Family {
 public:
  std::string name() const override { return "demo"; }
  framecast::ModelConfig::FamilyCase config_case() const override {
    return framecast::ModelConfig::kDemo;
  }
  void ApplyDefaults(RunConfig* c) const override {
    if (c->model().demo().width() == 0) c->mutable_model()->mutable_demo()->set_width(16);
  }
  Status ValidateModel(const RunConfig& c) const override {
    if (c.model().demo().width() < 1)
      return Status::InvalidArgument(
          "model.demo.width=" + std::to_string(c.model().demo().width()) + ": must be >= 1");
    return Status::Ok();
  }
  Status Validate(const RunConfig& c) const override {
    if (!c.data().has_procedural_blobs())
      return Status::InvalidArgument("data: the demo family trains on procedural_blobs");
    return Status::Ok();
  }
  Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                               dist::Communicator* comm) const override {
    return MakeDemoTrainer(config, world, comm);
  }
};

}  // namespace

const Family& DemoFamily() {
  static const DemoFamilyImpl family;
  return family;
}

}  // namespace fc::train
