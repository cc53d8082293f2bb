#include "train/replica_parts.h"

#include "ckpt/checkpoint.h"
#include "data/sampler.h"
#include "data/sources.h"
#include "train/trainer.h"
#include "util/timeline.h"

namespace fc::train {

void TrainData::Start(int64_t global_step) {
  if (prefetcher) {
    prefetcher->Start(global_step);
  } else if (loader) {
    loader->Start(global_step);
  }
}

Result<data::Batch> TrainData::Next(const data::Batch& fixed, int64_t global_step, int64_t micro) {
  timeline::Span span("data wait", "data");
  FC_ASSIGN_OR_RETURN(data::Batch batch, data::NextTrainingBatch(prefetcher.get(), loader.get(),
                                                                 fixed, global_step, micro));
  if (batch.global_step != global_step || batch.micro != micro) {
    return Status::Internal("data loader out of step: got step " +
                            std::to_string(batch.global_step) + " micro " +
                            std::to_string(batch.micro) + ", want " + std::to_string(global_step) +
                            " micro " + std::to_string(micro));
  }
  return batch;
}

Result<TrainData> OpenTrainData(const framecast::RunConfig& config, const TrainDataOptions& o) {
  const auto& d = config.data();
  TrainData t;
  FC_ASSIGN_OR_RETURN(auto source, data::MakeTrainSource(d, o.clip_frames));
  t.source = std::shared_ptr<const data::ClipSource>(std::move(source));
  t.steps_per_epoch = static_cast<double>(t.source->size()) /
                      (static_cast<double>(o.batches_per_step) * d.global_batch());
  data::LoaderOptions lo;
  lo.threads = o.loader_threads >= 0 ? o.loader_threads : d.loader_threads();
  lo.prefetch = d.prefetch_batches();
  lo.skip_corrupt = d.skip_corrupt();
  lo.pin_memory = o.device.is_cuda();
  data::SamplerOptions so;
  so.dataset_size = t.source->size();
  so.global_batch = static_cast<int64_t>(o.batches_per_step) * d.global_batch();
  so.world_size = o.world;
  so.rank = o.rank;
  so.accumulation = o.accumulation;
  so.seed = config.seed();
  FC_ASSIGN_OR_RETURN(auto sampler, data::DistributedSampler::Make(so));
  t.loader = std::make_unique<data::Loader>(t.source, std::move(sampler), lo);
  if (o.device_prefetch > 0) {
    t.prefetcher =
        std::make_unique<data::DevicePrefetcher>(t.loader.get(), o.device, o.device_prefetch);
  }
  return t;
}

std::unique_ptr<torch::optim::Adam> MakeAdam(const framecast::OptimizerConfig& o,
                                             std::vector<at::Tensor> params) {
  return std::make_unique<torch::optim::Adam>(std::move(params),
                                              torch::optim::AdamOptions(o.lr())
                                                  .betas({o.adam().beta1(), o.adam().beta2()})
                                                  .eps(o.adam().eps())
                                                  .weight_decay(o.weight_decay()));
}

Result<std::vector<ckpt::NamedTensor>> ModelAndOptimizerState(torch::nn::Module& module,
                                                              torch::optim::Optimizer& optimizer,
                                                              const std::string& prefix) {
  auto state = ModuleState(module, prefix);
  FC_ASSIGN_OR_RETURN(auto opt, OptimizerState(optimizer, module, "optim/model"));
  state.insert(state.end(), opt.begin(), opt.end());
  return state;
}

std::vector<std::string> ModelAndOptimizerNames(torch::nn::Module& module,
                                                const std::string& prefix,
                                                const framecast::ckpt::Manifest& manifest) {
  std::vector<std::string> names;
  for (const auto& nt : ModuleState(module, prefix)) names.push_back(nt.name);
  for (auto& n : NamesUnder(manifest, "optim/model/")) names.push_back(n);
  return names;
}

Status LoadModelAndOptimizer(torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                             const std::string& prefix, const TensorMap& from) {
  FC_RETURN_IF_ERROR(LoadModuleState(module, prefix, from));
  return LoadOptimizerState(optimizer, module, "optim/model", from);
}

Status LoadModuleFromStep(torch::nn::Module& module, const std::string& prefix,
                          const std::string& step_dir, const framecast::ckpt::Manifest& manifest) {
  std::vector<std::string> names;
  for (const auto& nt : ModuleState(module, prefix)) names.push_back(nt.name);
  FC_ASSIGN_OR_RETURN(auto tensors, ckpt::ReadTensors(step_dir, manifest, names));
  return LoadModuleState(module, prefix, tensors)
      .WithContext(step_dir + " does not fit the config's model");
}

}  // namespace fc::train
