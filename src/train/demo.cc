#include "train/demo.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/pooling.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

namespace fc::train {

DemoNetImpl::DemoNetImpl(int64_t width) {
  namespace nn = torch::nn;
  conv1 =
      register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, width, 3).padding(1).bias(false)));
  bn1 = register_module("bn1", dist::SyncBatchNorm(width));
  conv2 = register_module(
      "conv2", nn::Conv2d(nn::Conv2dOptions(width, 2 * width, 3).stride(2).padding(1).bias(false)));
  bn2 = register_module("bn2", dist::SyncBatchNorm(2 * width));
  conv3 = register_module(
      "conv3",
      nn::Conv2d(nn::Conv2dOptions(2 * width, 2 * width, 3).stride(2).padding(1).bias(false)));
  bn3 = register_module("bn3", dist::SyncBatchNorm(2 * width));
  head = register_module("head", nn::Linear(2 * width, 2));
}

at::Tensor DemoNetImpl::forward(const at::Tensor& frames) {
  at::Tensor h = torch::relu(bn1(conv1(frames)));
  h = torch::relu(bn2(conv2(h)));
  h = torch::relu(bn3(conv3(h)));
  return head(h.mean({2, 3}));
}

DemoBatch MakeDemoBatch(uint64_t seed, int64_t first_index, int64_t count, int64_t size) {
  DemoBatch b;
  b.frames = at::empty({count, 3, size, size});
  b.targets = at::empty({count, 2});
  at::Tensor coords = at::linspace(-1.0, 1.0, size);
  at::Tensor yy = coords.view({size, 1}), xx = coords.view({1, size});
  for (int64_t i = 0; i < count; ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        seed * 1000003 + static_cast<uint64_t>(first_index + i));
    at::Tensor params = at::rand({6}, gen);  // cx, cy, sigma, r, g, b
    double cx = params[0].item<double>() * 1.6 - 0.8, cy = params[1].item<double>() * 1.6 - 0.8;
    double sigma = 0.1 + 0.15 * params[2].item<double>();
    at::Tensor blob = at::exp(-((xx - cx).square() + (yy - cy).square()) / (2 * sigma * sigma));
    at::Tensor colour = params.narrow(0, 3, 3).view({3, 1, 1}) * 0.8 + 0.2;
    b.frames[i] = colour * blob + 0.1 * at::randn({3, size, size}, gen);
    b.targets[i][0] = cx;
    b.targets[i][1] = cy;
  }
  return b;
}

DemoTrainer::DemoTrainer(dist::Communicator* comm, const DemoOptions& o)
    : comm_(comm), options_(o), net_(o.width) {}

Result<std::unique_ptr<DemoTrainer>> DemoTrainer::Create(dist::Communicator* comm,
                                                         const DemoOptions& o) {
  if (o.per_rank_batch < 1 || o.accumulation < 1 || o.steps < 0) {
    return Status::InvalidArgument("demo: per-rank batch and accumulation must be >= 1");
  }
  torch::manual_seed(o.seed);  // same init everywhere; GradientSync broadcasts rank 0's anyway
  std::unique_ptr<DemoTrainer> t(new DemoTrainer(comm, o));
  t->net_->to(o.device, o.dtype);
  if (comm != nullptr) {
    if (o.sync_bn) dist::AttachSyncBatchNorm(*t->net_, comm);
    FC_ASSIGN_OR_RETURN(t->sync_, dist::GradientSync::Create(*t->net_, comm, o.sync, "demo"));
  }
  if (o.optimizer == DemoOptions::Optimizer::kAdam) {
    t->optimizer_ = std::make_unique<torch::optim::Adam>(t->net_->parameters(),
                                                         torch::optim::AdamOptions(o.lr)
                                                             .betas({o.beta1, o.beta2})
                                                             .eps(o.eps)
                                                             .weight_decay(o.weight_decay));
  } else {
    t->optimizer_ = std::make_unique<torch::optim::SGD>(
        t->net_->parameters(),
        torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }
  return t;
}

void DemoTrainer::SetLearningRate(double lr) {
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

std::vector<DemoBatch> DemoTrainer::Batches(int64_t step) const {
  const int rank = comm_ ? comm_->rank() : 0;
  const int world = comm_ ? comm_->size() : 1;
  const int64_t b = options_.per_rank_batch, k = options_.accumulation;
  std::vector<DemoBatch> out;
  for (int64_t micro = 0; micro < k; ++micro) {
    const int64_t first = (step * k + micro) * b * world + rank * b;
    DemoBatch batch = MakeDemoBatch(options_.seed, first, b, options_.image_size);
    batch.frames = batch.frames.to(options_.device, options_.dtype);
    batch.targets = batch.targets.to(options_.device, options_.dtype);
    out.push_back(std::move(batch));
  }
  return out;
}

Result<double> DemoTrainer::Step(int64_t step) { return StepOn(Batches(step)); }

Result<double> DemoTrainer::StepOn(const std::vector<DemoBatch>& micro_batches) {
  const int64_t k = static_cast<int64_t>(micro_batches.size());
  if (sync_) {
    sync_->ZeroGrad();  // keeps .grad as GradientSync's bucket views
  } else {
    optimizer_->zero_grad();
  }
  at::Tensor loss_sum =
      at::zeros({}, at::TensorOptions().device(options_.device).dtype(options_.dtype));
  for (int64_t micro = 0; micro < k; ++micro) {
    std::optional<dist::GradientSync::NoSyncGuard> no_sync;
    if (sync_ && micro + 1 < k) no_sync.emplace(sync_.get());
    const DemoBatch& batch = micro_batches[micro];
    at::Tensor loss = torch::nn::functional::mse_loss(net_(batch.frames), batch.targets) / k;
    loss.backward();
    loss_sum += loss.detach();
  }
  if (sync_) FC_RETURN_IF_ERROR(sync_->Finish());
  optimizer_->step();
  return loss_sum.item<double>();
}

}  // namespace fc::train
