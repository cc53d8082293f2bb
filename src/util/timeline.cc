#include "util/timeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "util/files.h"

#if defined(FRAMECAST_WITH_CUDA) && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define FC_HAVE_NVTX 1
#endif

namespace fc::timeline {
namespace internal {
std::atomic<bool> enabled{false};

void PushRange(const char* name) {
#ifdef FC_HAVE_NVTX
  nvtxRangePushA(name);
#else
  (void)name;
#endif
}
void PopRange() {
#ifdef FC_HAVE_NVTX
  nvtxRangePop();
#endif
}
}  // namespace internal

namespace {

struct State {
  std::mutex mu;
  std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
  int64_t origin_unix_us = 0;  // the wall clock at Enable: merging aligns ranks on it
  int rank = 0;
  int64_t capacity = 0;
  std::vector<Event> ring;  // ring[(first + i) % capacity], i < size
  int64_t first = 0;
  int64_t dropped = 0;
};

State& S() {
  static State* s = new State();  // never destroyed: spans may end during static destruction
  return *s;
}

void Escape(std::string* out, const char* s) {
  for (; *s; ++s) {
    const char c = *s;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      *out += buf;
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

void Enable(int rank, int64_t max_events) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.rank = rank;
  s.capacity = max_events > 0 ? max_events : 1;
  s.ring.clear();
  s.ring.reserve(static_cast<size_t>(std::min<int64_t>(s.capacity, 1 << 16)));
  s.first = 0;
  s.dropped = 0;
  s.origin = std::chrono::steady_clock::now();
  s.origin_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  internal::enabled.store(true, std::memory_order_relaxed);
}

void Disable() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  internal::enabled.store(false, std::memory_order_relaxed);
  s.ring.clear();
  s.first = 0;
  s.dropped = 0;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               S().origin)
      .count();
}

void Record(const char* name, const char* cat, int64_t ts_us, int64_t dur_us, int track,
            int64_t arg, const char* arg_name) {
  if (!Enabled()) return;
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  Event e{name, cat, ts_us, dur_us < 0 ? 0 : dur_us, track, arg, arg_name};
  if (static_cast<int64_t>(s.ring.size()) < s.capacity) {
    s.ring.push_back(e);
  } else {
    s.ring[static_cast<size_t>(s.first)] = e;
    s.first = (s.first + 1) % s.capacity;
    ++s.dropped;
  }
}

std::vector<Event> Events() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<Event> out;
  out.reserve(s.ring.size());
  for (size_t i = 0; i < s.ring.size(); ++i)
    out.push_back(s.ring[(static_cast<size_t>(s.first) + i) % s.ring.size()]);
  return out;
}

int64_t DroppedEvents() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.dropped;
}

std::string ToJson() {
  const std::vector<Event> events = Events();
  const int rank = S().rank;
  const int64_t dropped = DroppedEvents();
  std::string out = "{\"traceEvents\":[\n";
  char buf[512];
  // Track names (metadata events) so the viewer labels the rows.
  std::snprintf(buf, sizeof(buf),
                "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":"
                "\"rank %d\"}},\n",
                rank, rank);
  out += buf;
  std::set<int> tracks = {kMainTrack};
  for (const Event& e : events) tracks.insert(e.track);
  for (int t : tracks) {
    std::string name = t == kMainTrack     ? "train"
                       : t == kWriterTrack ? "checkpoint writer"
                       : t >= CommTrack(0)
                           ? "all-reduce, bucket " + std::to_string(t - CommTrack(0))
                           : "track " + std::to_string(t);
    std::snprintf(buf, sizeof(buf),
                  "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":"
                  "\"%s\"}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                  "\"args\":{\"sort_index\":%d}}",
                  rank, t, name.c_str(), rank, t, t);
    out += buf;
    out += events.empty() && t == *tracks.rbegin() ? "\n" : ",\n";
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    out += "{\"name\":\"";
    Escape(&out, e.name);
    out += "\",\"cat\":\"";
    Escape(&out, e.cat);
    std::snprintf(buf, sizeof(buf),
                  "\",\"ph\":\"X\",\"ts\":%lld,\"dur\":%lld,\"pid\":%d,\"tid\":%d",
                  static_cast<long long>(e.ts_us), static_cast<long long>(e.dur_us), rank, e.track);
    out += buf;
    if (e.arg >= 0) {
      out += ",\"args\":{\"";
      Escape(&out, e.arg_name);
      std::snprintf(buf, sizeof(buf), "\":%lld}", static_cast<long long>(e.arg));
      out += buf;
    }
    out += i + 1 < events.size() ? "},\n" : "}\n";
  }
  std::snprintf(buf, sizeof(buf),
                "],\"displayTimeUnit\":\"ms\",\"otherData\":{\"rank\":%d,\"dropped_events\":%lld,"
                "\"origin_unix_us\":%lld}}\n",
                rank, static_cast<long long>(dropped), static_cast<long long>(S().origin_unix_us));
  out += buf;
  return out;
}

Status WriteTo(const std::string& path) { return WriteFileAtomic(path, ToJson()); }

void Span::Begin(const char* name, const char* cat, int64_t arg) {
  name_ = name;
  cat_ = cat;
  arg_ = arg;
  start_ = NowUs();
  internal::PushRange(name);
}

void Span::Finish() {
  internal::PopRange();
  Record(name_, cat_, start_, NowUs() - start_, kMainTrack, arg_);
  name_ = nullptr;
}

}  // namespace fc::timeline
