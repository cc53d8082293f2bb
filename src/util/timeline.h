// A timeline of one process: named spans in the Chrome trace-event JSON format that Perfetto
// (ui.perfetto.dev) and chrome://tracing open, one file per rank (logging.timeline).
//
// Contract:
// - Off by default. While off, a Span costs one relaxed atomic load and records nothing.
// - Enable(rank, max_events) starts recording; events are complete events ("ph": "X") with "ts"
//   and "dur" in microseconds since Enable, "pid" = rank and "tid" = the track: kMainTrack for
//   the training thread's spans, CommTrack(b) for gradient bucket b's all-reduces from launch to
//   completion, kWriterTrack for the background checkpoint writer. Only the
//   newest max_events are kept (a ring), so a long run's file stays bounded.
// - Recording is thread-safe; Span nesting on one thread is by time containment (as the format
//   has it), no stack is kept.
// - On CUDA builds every Span also pushes an NVTX range of the same name, so Nsight Systems shows
//   the same spans (nvtx3 is header-only: no library to link; without Nsight it does nothing).
// - WriteTo(path) writes the kept events atomically (never a half-written file); Events() returns
//   them for tests and summaries.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::timeline {

inline constexpr int kMainTrack = 0;
inline constexpr int kWriterTrack = 1;  // the asynchronous checkpoint writer
// One track per gradient bucket: a bucket's all-reduces never overlap each other, different
// buckets' do (the format draws overlapping spans of one track wrongly).
inline constexpr int CommTrack(int bucket) { return 10 + bucket; }

struct Event {
  const char* name;  // string literals only: events keep the pointer
  const char* cat;
  int64_t ts_us;
  int64_t dur_us;
  int track;
  int64_t arg;           // "args": {arg_name: arg} when >= 0 (a step, a byte count); -1: none
  const char* arg_name;  // a string literal
};

namespace internal {
extern std::atomic<bool> enabled;
void PushRange(const char* name);
void PopRange();
}  // namespace internal

inline bool Enabled() { return internal::enabled.load(std::memory_order_relaxed); }

void Enable(int rank, int64_t max_events);
void Disable();  // stops recording and drops the events
// Microseconds since Enable (steady clock).
int64_t NowUs();
void Record(const char* name, const char* cat, int64_t ts_us, int64_t dur_us, int track,
            int64_t arg = -1, const char* arg_name = "step");
std::vector<Event> Events();
int64_t DroppedEvents();
// The kept events as one JSON document ({"traceEvents": [...], "displayTimeUnit": "ms",
// "otherData": {...}}).
std::string ToJson();
Status WriteTo(const std::string& path);

// A span on the calling thread's track from construction to destruction (or End()).
class Span {
 public:
  // arg >= 0: recorded as "args": {"step": arg}.
  explicit Span(const char* name, const char* cat = "step", int64_t arg = -1) {
    if (Enabled()) Begin(name, cat, arg);
  }
  ~Span() { End(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  void End() {
    if (name_ != nullptr) Finish();
  }

 private:
  void Begin(const char* name, const char* cat, int64_t arg);
  void Finish();
  const char* name_ = nullptr;
  const char* cat_ = nullptr;
  int64_t arg_ = -1;
  int64_t start_ = 0;
};

}  // namespace fc::timeline
