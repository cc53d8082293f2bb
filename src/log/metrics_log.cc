#include "log/metrics_log.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/files.h"
#include "util/json.h"

namespace fc::log {

std::string MetricsLine(int64_t step, const std::string& stage, int64_t stage_step,
                        double unix_time, const Scalars& scalars) {
  char buf[64];
  std::string line = "{\"step\": " + std::to_string(step) + ", \"stage\": " + JsonString(stage) +
                     ", \"stage_step\": " + std::to_string(stage_step);
  std::snprintf(buf, sizeof(buf), ", \"time\": %.3f", unix_time);
  line += buf;
  for (const auto& [name, value] : scalars)
    line += ", " + JsonString(name) + ": " + JsonNumber(value);
  return line + "}";
}

Result<std::vector<std::pair<std::string, std::string>>> ParseFlatJson(const std::string& line) {
  // nlohmann-json (Debian's nlohmann-json3-dev), insertion-ordered, no exceptions.
  const auto doc = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("JSON: expected an object");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : doc.items()) {
    if (value.is_string()) {
      out.emplace_back(key, value.get<std::string>());
    } else if (value.is_number() || value.is_null()) {
      out.emplace_back(key, value.dump());
    } else {
      return Status::InvalidArgument("JSON: '" + key + "' is not a string, number or null");
    }
  }
  return out;
}

Result<std::unique_ptr<MetricsLog>> MetricsLog::Open(const std::string& path) {
  std::unique_ptr<MetricsLog> m(new MetricsLog());
  m->path_ = path;
  FC_ASSIGN_OR_RETURN(m->file_, OpenForAppend(path));
  return m;
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

Status MetricsLog::Write(int64_t step, const std::string& stage, int64_t stage_step,
                         const Scalars& scalars) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string line = MetricsLine(step, stage, stage_step, now, scalars) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    return Status::IoError("cannot write " + path_ + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace fc::log
