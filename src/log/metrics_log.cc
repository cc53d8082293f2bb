#include "log/metrics_log.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

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
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("JSON at byte offset " + std::to_string(i) + ": " + what);
  };
  auto skip_ws = [&] {
    while (i < line.size() && std::strchr(" \t\r\n", line[i]) != nullptr) ++i;
  };
  auto parse_string = [&](std::string* s) -> Status {
    if (i >= line.size() || line[i] != '"') return bad("expected a string");
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] != '\\') {
        *s += line[i];
        continue;
      }
      if (++i >= line.size()) break;
      const char e = line[i];
      if (e == 'u') {
        if (i + 4 >= line.size()) return bad("short \\u escape");
        const std::string hex = line.substr(i + 1, 4);
        if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          return bad("bad \\u escape");
        const unsigned cp = static_cast<unsigned>(std::strtoul(hex.c_str(), nullptr, 16));
        if (cp < 0x80)
          *s += static_cast<char>(cp);
        else
          *s += '?';
        i += 4;
      } else {
        *s += e == 'n'   ? '\n'
              : e == 't' ? '\t'
              : e == 'r' ? '\r'
              : e == 'b' ? '\b'
              : e == 'f' ? '\f'
                         : e;
      }
    }
    if (i >= line.size()) return bad("unterminated string");
    ++i;
    return Status::Ok();
  };
  skip_ws();
  if (i >= line.size() || line[i] != '{') return bad("expected '{'");
  ++i;
  skip_ws();
  if (i < line.size() && line[i] == '}') return out;
  while (true) {
    skip_ws();
    std::string key, value;
    FC_RETURN_IF_ERROR(parse_string(&key));
    skip_ws();
    if (i >= line.size() || line[i] != ':') return bad("expected ':'");
    ++i;
    skip_ws();
    if (i < line.size() && line[i] == '"') {
      FC_RETURN_IF_ERROR(parse_string(&value));
    } else {
      const size_t start = i;
      while (i < line.size() && std::strchr("+-.0123456789eEnul", line[i]) != nullptr) ++i;
      value = line.substr(start, i - start);
      if (value.empty()) return bad("expected a string, number or null");
    }
    out.emplace_back(std::move(key), std::move(value));
    skip_ws();
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i] == '}') return out;
    return bad("expected ',' or '}'");
  }
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
