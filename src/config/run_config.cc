#include "config/run_config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <sstream>

#include "util/digest.h"
#include "util/files.h"

namespace fc::config {

namespace pb = google::protobuf;
using framecast::RunConfig;

namespace {

class Collector : public pb::io::ErrorCollector {
 public:
  explicit Collector(std::string source) : source_(std::move(source)) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (first_.empty()) {
      first_ = source_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " +
               message;
    }
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

Status Invalid(const std::string& path, const std::string& rule) {
  return Status::InvalidArgument(path + ": " + rule);
}

// performance (src/train/performance.h): the combinations the training steps implement.
Status ValidatePerformance(const RunConfig& c) {
  const auto& p = c.performance();
  if (!framecast::PerformanceConfig::Precision_IsValid(p.precision())) {
    return Invalid("performance.precision=" + std::to_string(p.precision()),
                   "unknown precision (FP32 or BF16)");
  }
  if (p.device_prefetch() < -1 || p.device_prefetch() > 8) {
    return Invalid("performance.device_prefetch=" + std::to_string(p.device_prefetch()),
                   "must be in [-1, 8] (-1: off, 0: the default, 1 on CUDA)");
  }
  if (p.deterministic() && p.has_cudnn_benchmark() && p.cudnn_benchmark())
    return Invalid("performance.cudnn_benchmark",
                   "autotuning is not deterministic: not with performance.deterministic");
  if (p.deterministic() && p.cuda_graphs())
    return Invalid("performance.cuda_graphs", "not with performance.deterministic");
  // Which families implement each option is the family registry's rule (train/family.h).
  if (p.cuda_graphs() && c.accumulation_steps() > 1) {
    return Invalid("performance.cuda_graphs", "needs accumulation_steps 1 (got " +
                                                  std::to_string(c.accumulation_steps()) +
                                                  "): accumulated micro-batches are not captured");
  }
  return Status::Ok();
}

}  // namespace

Result<RunConfig> ParseRunConfigText(const std::string& text, const std::string& source) {
  RunConfig config;
  Collector errors(source);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return Status::InvalidArgument(errors.first().empty() ? source + ": cannot parse"
                                                          : errors.first());
  }
  return config;
}

Result<RunConfig> LoadRunConfig(const std::string& path, const std::vector<std::string>& overrides,
                                bool validate, bool check_files) {
  if (!Exists(path)) return Status::NotFound(path + ": cannot open config file");
  // A regular file of at most 16 MiB (a FIFO or device is refused without blocking).
  auto text = ReadSmallFile(path, uint64_t{16} << 20);
  if (!text.ok()) return Status::InvalidArgument("config file " + text.status().message());
  FC_ASSIGN_OR_RETURN(RunConfig config, ParseRunConfigText(text.value(), path));
  for (const std::string& o : overrides) FC_RETURN_IF_ERROR(ApplyOverride(&config, o));
  ApplyDefaults(&config);
  if (validate) FC_RETURN_IF_ERROR(Validate(config).WithContext(path));
  if (validate && check_files) FC_RETURN_IF_ERROR(CheckFiles(config).WithContext(path));
  return config;
}

Status ApplyOverride(RunConfig* config, const std::string& assignment) {
  const std::string where = "--set " + assignment;
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidArgument(where + ": expected field.path=value");
  }
  const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  static const std::regex kPart(R"(([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]+)\])?)");
  pb::Message* msg = config;
  std::stringstream parts(path);
  std::string part;
  std::vector<std::string> all;
  while (std::getline(parts, part, '.')) all.push_back(part);
  for (size_t i = 0; i < all.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(all[i], m, kPart)) {
      return Status::InvalidArgument(where + ": bad path element '" + all[i] + "'");
    }
    const pb::Descriptor* d = msg->GetDescriptor();
    const pb::FieldDescriptor* f = d->FindFieldByName(m[1].str());
    if (f == nullptr) {
      return Status::InvalidArgument(where + ": " + d->full_name() + " has no field '" +
                                     m[1].str() + "'");
    }
    const pb::Reflection* r = msg->GetReflection();
    const bool last = i + 1 == all.size();
    if (f->is_repeated()) {
      if (!m[2].matched) {
        return Status::InvalidArgument(where + ": '" + f->name() + "' is repeated: use " +
                                       f->name() + "[i]");
      }
      if (m[2].str().size() > 9) {
        return Status::InvalidArgument(where + ": index " + m[2].str() + " is out of range for " +
                                       f->name());
      }
      const int idx = std::stoi(m[2].str());
      const int size = r->FieldSize(*msg, f);
      if (idx > size) {
        return Status::InvalidArgument(where + ": index " + std::to_string(idx) +
                                       " past the end of " + f->name() + " (size " +
                                       std::to_string(size) + ")");
      }
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        if (last) return Status::InvalidArgument(where + ": '" + f->name() + "' is a message");
        msg = idx == size ? r->AddMessage(msg, f) : r->MutableRepeatedMessage(msg, f, idx);
        continue;
      }
      if (!last) return Status::InvalidArgument(where + ": '" + f->name() + "' is not a message");
      return Status::InvalidArgument(where + ": repeated scalar fields cannot be set with --set");
    }
    if (m[2].matched)
      return Status::InvalidArgument(where + ": '" + f->name() + "' is not repeated");
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (last)
        return Status::InvalidArgument(where + ": '" + f->name() + "' is a message, not a value");
      msg = r->MutableMessage(msg, f);
      continue;
    }
    if (!last) return Status::InvalidArgument(where + ": '" + f->name() + "' is not a message");
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      r->SetString(msg, f, value);  // strings are taken verbatim, no quotes needed
      continue;
    }
    Collector errors("--set");
    pb::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFieldValueFromString(value, f, msg)) {
      return Status::InvalidArgument(where + ": '" + value + "' is not a valid " + f->type_name() +
                                     " for " + f->full_name());
    }
  }
  return Status::Ok();
}

namespace {
ConfigHooks& Hooks() {
  static ConfigHooks hooks;
  return hooks;
}
}  // namespace

void InstallConfigHooks(ConfigHooks hooks) { Hooks() = std::move(hooks); }

Status CheckFiles(const RunConfig& c) {
  return Hooks().check_files ? Hooks().check_files(c) : Status::Ok();
}

void ApplyDefaults(RunConfig* c) {
  if (c->accumulation_steps() == 0) c->set_accumulation_steps(1);
  auto* ck = c->mutable_checkpoint();
  if (ck->keep_last() == 0) ck->set_keep_last(3);
  if (c->logging().every_steps() == 0) c->mutable_logging()->set_every_steps(1);
  if (c->logging().timeline_max_events() == 0)
    c->mutable_logging()->set_timeline_max_events(200000);
  if (c->data().has_procedural_blobs() && c->data().procedural_blobs().image_size() == 0) {
    c->mutable_data()->mutable_procedural_blobs()->set_image_size(32);
  }
  for (auto& o : *c->mutable_optimizers()) {
    if (o.network().empty()) o.set_network("model");
    if (o.has_adam()) {
      auto* a = o.mutable_adam();
      if (!a->has_beta1()) a->set_beta1(0.9);
      if (a->beta2() == 0) a->set_beta2(0.999);
      if (a->eps() == 0) a->set_eps(1e-8);
    }
  }
  for (int i = 0; i < c->stages_size(); ++i) {
    if (c->stages(i).name().empty()) c->mutable_stages(i)->set_name("stage" + std::to_string(i));
  }
  if (c->eval().samples() == 0) c->mutable_eval()->set_samples(100);
  if (c->eval().fvd_draws() == 0) c->mutable_eval()->set_fvd_draws(5);
  if (Hooks().apply_defaults) Hooks().apply_defaults(c);
  // After the data defaults (data.eval_sequences).
  if (c->eval().sequences_during_training() == 0) {
    const int64_t n = c->data().eval_sequences() > 0 ? c->data().eval_sequences() : 64;
    c->mutable_eval()->set_sequences_during_training(
        static_cast<int32_t>(std::min<int64_t>(64, n)));
  }
  if (c->eval().samples_during_training() == 0) c->mutable_eval()->set_samples_during_training(4);
  if (!c->eval().early_stopping().metric().empty() && c->eval().early_stopping().patience() == 0)
    c->mutable_eval()->mutable_early_stopping()->set_patience(5);
}

Status Validate(const RunConfig& c) {
  static const std::regex kName(R"([A-Za-z0-9._-]+)");
  if (c.name().empty()) return Invalid("name", "required");
  if (!std::regex_match(c.name(), kName) || c.name() == "." || c.name() == "..") {
    return Invalid("name", "'" + c.name() + "' must match [A-Za-z0-9._-]+");
  }
  if (c.accumulation_steps() < 1) return Invalid("accumulation_steps", "must be >= 1");
  if (c.data().global_batch() < 1) return Invalid("data.global_batch", "must be >= 1");
  if (c.data().source_case() == framecast::DataConfig::SOURCE_NOT_SET) {
    return Invalid("data", "choose a source (e.g. procedural_blobs)");
  }
  if (c.data().has_procedural_blobs() && c.data().procedural_blobs().image_size() < 4) {
    return Invalid("data.procedural_blobs.image_size", "must be >= 4");
  }
  if (c.model().family_case() == framecast::ModelConfig::FAMILY_NOT_SET) {
    return Invalid("model", "choose a model family (e.g. demo)");
  }
  if (c.optimizers_size() == 0) return Invalid("optimizers", "at least one optimizer is required");
  for (int i = 0; i < c.optimizers_size(); ++i) {
    const auto& o = c.optimizers(i);
    const std::string p = "optimizers[" + std::to_string(i) + "]";
    if (o.kind_case() == framecast::OptimizerConfig::KIND_NOT_SET)
      return Invalid(p, "choose sgd or adam");
    if (!(o.lr() > 0) || !std::isfinite(o.lr()))
      return Invalid(p + ".lr", "must be finite and > 0");
    if (!(o.weight_decay() >= 0) || !std::isfinite(o.weight_decay()))
      return Invalid(p + ".weight_decay", "must be finite and >= 0");
    if (o.has_adam()) {
      const auto& a = o.adam();
      if (!(a.beta1() >= 0 && a.beta1() < 1))
        return Invalid(p + ".adam.beta1=" + std::to_string(a.beta1()), "must be in [0, 1)");
      if (!(a.beta2() >= 0 && a.beta2() < 1))
        return Invalid(p + ".adam.beta2=" + std::to_string(a.beta2()), "must be in [0, 1)");
      if (!(a.eps() > 0) || !std::isfinite(a.eps()))
        return Invalid(p + ".adam.eps", "must be finite and > 0");
    }
    if (o.has_sgd() && (!(o.sgd().momentum() >= 0) || !std::isfinite(o.sgd().momentum())))
      return Invalid(p + ".sgd.momentum", "must be finite and >= 0");
    if (o.schedule().warmup_steps() < 0)
      return Invalid(p + ".schedule.warmup_steps", "must be >= 0");
    if (o.schedule().warmup_epochs() < 0)
      return Invalid(p + ".schedule.warmup_epochs", "must be >= 0");
    if (o.schedule().warmup_start_lr() < 0 || o.schedule().warmup_start_lr() > o.lr())
      return Invalid(p + ".schedule.warmup_start_lr", "must be in [0, lr]");
    if (o.schedule().decay_steps() < 0 ||
        (o.schedule().kind() == framecast::LrSchedule::LINEAR_DECAY &&
         o.schedule().decay_steps() < 1))
      return Invalid(p + ".schedule.decay_steps=" + std::to_string(o.schedule().decay_steps()),
                     "must be >= 1 with kind LINEAR_DECAY");
  }
  if (c.stages_size() == 0) return Invalid("stages", "at least one stage is required");
  for (int i = 0; i < c.stages_size(); ++i) {
    if (c.stages(i).steps() < 1)
      return Invalid("stages[" + std::to_string(i) + "].steps", "must be >= 1");
    for (int k = 0; k < c.optimizers_size(); ++k) {
      const auto& s = c.optimizers(k).schedule();
      if (s.kind() == framecast::LrSchedule::LINEAR_DECAY && s.decay_steps() > c.stages(i).steps())
        return Invalid("optimizers[" + std::to_string(k) +
                           "].schedule.decay_steps=" + std::to_string(s.decay_steps()),
                       "longer than stages[" + std::to_string(i) + "].steps (" +
                           std::to_string(c.stages(i).steps()) + ")");
    }
  }
  const auto& ck = c.checkpoint();
  if (ck.every_steps() < 0) return Invalid("checkpoint.every_steps", "must be >= 0");
  if (ck.keep_last() < 2) return Invalid("checkpoint.keep_last", "must be >= 2");
  if (ck.keep_every() < 0) return Invalid("checkpoint.keep_every", "must be >= 0");
  if (c.logging().every_steps() < 1) return Invalid("logging.every_steps", "must be >= 1");
  // At most 20M events (about 2 GB of JSON per rank): the ring is host memory.
  if (c.logging().timeline_max_events() < 1 || c.logging().timeline_max_events() > 20000000)
    return Invalid("logging.timeline_max_events", "must be in [1, 20000000]");
  for (auto [name, mib] :
       {std::pair<const char*, double>{"dist.first_bucket_mib", c.dist().first_bucket_mib()},
        {"dist.bucket_mib", c.dist().bucket_mib()}}) {
    // 0: the default; at most 64 GiB (bytes must fit the communicators' counts).
    if (!(mib >= 0 && mib <= 65536)) return Invalid(name, "must be in [0, 65536] MiB");
  }
  if (c.data().global_batch() % c.accumulation_steps() != 0) {
    return Invalid(
        "data.global_batch=" + std::to_string(c.data().global_batch()),
        "not divisible by accumulation_steps (" + std::to_string(c.accumulation_steps()) + ")");
  }
  FC_RETURN_IF_ERROR(ValidatePerformance(c));
  if (c.eval().samples() < 0) return Invalid("eval.samples", "must be >= 1");
  if (c.eval().fvd_draws() < 0) return Invalid("eval.fvd_draws", "must be >= 1");
  if (c.eval().every_steps() < 0) return Invalid("eval.every_steps", "must be >= 0");
  if (c.eval().sequences_during_training() < 1 || c.eval().sequences_during_training() > 100000)
    return Invalid("eval.sequences_during_training", "must be in [1, 100000]");
  if (c.eval().samples_during_training() < 1 || c.eval().samples_during_training() > 10000)
    return Invalid("eval.samples_during_training", "must be in [1, 10000]");
  {
    const auto& es = c.eval().early_stopping();
    if (!es.metric().empty() && c.eval().every_steps() == 0)
      return Invalid("eval.early_stopping.metric",
                     "needs evaluation during training (eval.every_steps > 0)");
    if (es.patience() < 0 || es.patience() > 1000000)
      return Invalid("eval.early_stopping.patience", "must be in [1, 1000000]");
    if (!(es.min_delta() >= 0) || !std::isfinite(es.min_delta()))
      return Invalid("eval.early_stopping.min_delta", "must be a finite number >= 0");
    if (es.restore_best() && es.metric().empty())
      return Invalid("eval.early_stopping.restore_best", "needs eval.early_stopping.metric");
  }
  if (Hooks().validate) return Hooks().validate(c);
  return Status::Ok();
}

Status ValidateForWorld(const RunConfig& c, int world_size) {
  const int64_t div = static_cast<int64_t>(world_size) * c.accumulation_steps();
  if (c.data().global_batch() % div != 0) {
    return Invalid("data.global_batch=" + std::to_string(c.data().global_batch()),
                   "not divisible by ranks (" + std::to_string(world_size) +
                       ") x accumulation_steps (" + std::to_string(c.accumulation_steps()) + ")");
  }
  return Status::Ok();
}

std::string ToText(const RunConfig& c) {
  pb::TextFormat::Printer printer;
  std::string out;
  printer.PrintToString(c, &out);
  return out;
}

std::string Digest(const std::string& text) { return Fnv1a64Hex(text); }

std::string RunDir(const RunConfig& c) {
  return c.output_dir().empty() ? "checkpoints/" + c.name() : c.output_dir();
}

}  // namespace fc::config
