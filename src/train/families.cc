// The registry of model families (train/family.h) and the config rules it installs.
#include <algorithm>

#include "config/run_config.h"
#include "data/sources.h"
#include "train/family.h"
#include "train/trainer.h"

namespace fc::train {

using framecast::ModelConfig;
using framecast::RunConfig;

const std::vector<const Family*>& Families() {
  // Adding a family: one line here (src/models/README.md).
  static const std::vector<const Family*> all = {&DemoFamily(), &HvrnnFamily(), &CvgFamily(),
                                                 &SrvpFamily()};
  return all;
}

Result<const Family*> FamilyFor(const RunConfig& config) {
  if (config.model().family_case() == ModelConfig::FAMILY_NOT_SET)
    return Status::InvalidArgument("model: choose a model family (e.g. demo)");
  for (const Family* f : Families()) {
    if (f->config_case() == config.model().family_case()) return f;
  }
  return Status::InvalidArgument("model: family #" + std::to_string(config.model().family_case()) +
                                 " is not in this build (it has: " +
                                 [] {
                                   std::string names;
                                   for (const Family* f : Families())
                                     names += (names.empty() ? "" : ", ") + f->name();
                                   return names;
                                 }() +
                                 ")");
}

const Family* FamilyNamed(const std::string& name) {
  for (const Family* f : Families()) {
    if (f->name() == name) return f;
  }
  return nullptr;
}

Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                             dist::Communicator* comm) {
  FC_ASSIGN_OR_RETURN(const Family* family, FamilyFor(config));
  return family->MakeTrainer(config, world, comm);
}

namespace {

bool HasClips(const RunConfig& c) {
  return c.data().source_case() != framecast::DataConfig::SOURCE_NOT_SET &&
         !c.data().has_procedural_blobs();
}

std::string SupportedBy(bool PerformanceSupport::*what) {
  std::string names;
  for (const Family* f : Families()) {
    if (f->performance().*what) names += (names.empty() ? "" : ", ") + f->name();
  }
  return names.empty() ? "none" : names;
}

// performance.* options the family's step does not implement.
Status ValidatePerformanceSupport(const RunConfig& c, const Family& f) {
  const auto& p = c.performance();
  const PerformanceSupport s = f.performance();
  const std::string fam = " (family " + f.name() + "; implemented for: ";
  if (p.precision() != framecast::PerformanceConfig::FP32 && !s.bf16)
    return Status::InvalidArgument("performance.precision: BF16 is not implemented" + fam +
                                   SupportedBy(&PerformanceSupport::bf16) + ")");
  if (p.channels_last() && !s.channels_last)
    return Status::InvalidArgument("performance.channels_last: not implemented" + fam +
                                   SupportedBy(&PerformanceSupport::channels_last) + ")");
  if (p.cuda_graphs() && !s.cuda_graphs)
    return Status::InvalidArgument("performance.cuda_graphs: this family's step is not captured" +
                                   fam + SupportedBy(&PerformanceSupport::cuda_graphs) + ")");
  return Status::Ok();
}

void ApplyFamilyDefaults(RunConfig* c) {
  if (HasClips(*c)) (void)data::ApplyDataDefaults(c->mutable_data());  // Validate reports errors
  auto family = FamilyFor(*c);
  if (family.ok()) family.value()->ApplyDefaults(c);
}

Status ValidateFamily(const RunConfig& c) {
  if (HasClips(c)) FC_RETURN_IF_ERROR(data::ValidateData(c.data(), /*check_files=*/false));
  FC_ASSIGN_OR_RETURN(const Family* family, FamilyFor(c));
  FC_RETURN_IF_ERROR(family->ValidateModel(c));
  FC_RETURN_IF_ERROR(family->Validate(c));
  return ValidatePerformanceSupport(c, *family);
}

}  // namespace

void InstallFamilyConfigHooks() {
  config::ConfigHooks hooks;
  hooks.apply_defaults = ApplyFamilyDefaults;
  hooks.validate = ValidateFamily;
  hooks.check_files = [](const RunConfig& c) {
    return HasClips(c) ? data::ValidateData(c.data(), /*check_files=*/true) : Status::Ok();
  };
  config::InstallConfigHooks(hooks);
}

std::vector<std::string> NamesUnder(const framecast::ckpt::Manifest& m, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& r : m.tensors()) {
    if (r.name().rfind(prefix, 0) == 0) names.push_back(r.name());
  }
  return names;
}

}  // namespace fc::train
