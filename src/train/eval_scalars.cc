#include "train/eval_scalars.h"

#include <utility>
#include <vector>

#include "log/event_writer.h"
#include "util/files.h"

namespace fc::train {
namespace {

std::string TagName(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == ' ' || c == '/' || c == '(' || c == ')' || c == ',') ? '_' : c;
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

Result<std::unique_ptr<log::EventWriter>> Open(const std::string& run_dir) {
  FC_RETURN_IF_ERROR(MakeDirs(run_dir + "/tb"));
  return log::EventWriter::Open(run_dir + "/tb");
}

}  // namespace

Status WriteEvalScalars(const std::string& run_dir, int64_t global_step,
                        const eval::EvalReport& report) {
  FC_ASSIGN_OR_RETURN(auto w, Open(run_dir));
  std::vector<std::pair<std::string, double>> at_step;
  for (const auto& m : report.methods) {
    const std::string base = TagName(m.name);
    for (const eval::MetricSummary* s : {&m.psnr, &m.ssim, &m.lpips}) {
      if (!s->available) continue;
      at_step.emplace_back("eval/" + base + "/" + s->name, s->mean);
      for (size_t t = 0; t < s->per_frame.size(); ++t) {
        FC_RETURN_IF_ERROR(w->AddScalar("eval_curve/" + base + "/" + s->name,
                                        static_cast<int64_t>(t) + 1, s->per_frame[t]));
      }
    }
    if (m.fvd.available) at_step.emplace_back("eval/" + base + "/fvd", m.fvd.mean);
  }
  for (const auto& e : report.elbos) {
    at_step.emplace_back("eval/" + TagName(e.method) + "/neg_elbo", e.neg_elbo);
    at_step.emplace_back("eval/" + TagName(e.method) + "/bits_per_dim", e.bits_per_dim);
  }
  FC_RETURN_IF_ERROR(w->AddScalars(global_step, at_step));
  return w->Flush();
}

Status WriteEvalScalars(const std::string& run_dir, int64_t global_step,
                        const eval::GenerationReport& report) {
  FC_ASSIGN_OR_RETURN(auto w, Open(run_dir));
  std::vector<std::pair<std::string, double>> at_step;
  for (const auto& r : report.rows) {
    const std::string base = "eval/" + TagName(r.name) + "/";
    at_step.emplace_back(base + "inception_score", r.inception.mean);
    if (r.fid_available) at_step.emplace_back(base + "fid", r.fid);
    if (r.accuracy_available) at_step.emplace_back(base + "accuracy", r.accuracy);
    if (r.fvd_available) at_step.emplace_back(base + "fvd", r.fvd);
  }
  FC_RETURN_IF_ERROR(w->AddScalars(global_step, at_step));
  return w->Flush();
}

}  // namespace fc::train
