// TensorBoard event files written natively: Event records (log/event.proto, a wire-compatible
// subset of TensorFlow's) framed as TFRecords (log/tfrecord.h).
//
// Open(dir) creates `dir` and the file dir/events.out.tfevents.<unix seconds>.<host>.<pid> (".N"
// appended if that exists), whose first record is an Event with file_version "brain.Event:2" (what
// TensorBoard expects). Each Add* appends one Event. Flush policy: the stdio buffer is flushed to
// the file every `flush_every_records` records, when `flush_every_seconds` have passed since the
// last flush (checked on each Add*), on Flush(), and on destruction, so TensorBoard sees a live run
// within seconds and a finished one completely. Thread-safety: none (one writer, rank 0's main
// thread).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace framecast::tb {
class Event;
}

namespace fc::log {

struct EventWriterOptions {
  int flush_every_records = 64;
  double flush_every_seconds = 5.0;
};

class EventWriter {
 public:
  static Result<std::unique_ptr<EventWriter>> Open(const std::string& dir,
                                                   const EventWriterOptions& options = {});
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One Event holding one simple_value (float) per (tag, value).
  Status AddScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  Status AddScalar(const std::string& tag, int64_t step, double value) {
    return AddScalars(step, {{tag, value}});
  }
  // One Event holding one Image: `png` is a PNG file's bytes of height x width x channels
  // (channels 1, 3 or 4: the colorspace).
  Status AddImage(const std::string& tag, int64_t step, const std::string& png, int height,
                  int width, int channels);
  // A text summary (TensorBoard's Text tab renders it as markdown).
  Status AddText(const std::string& tag, int64_t step, const std::string& markdown);
  // TensorBoard's HParams tab: the run's hyperparameters (numbers, strings, booleans) at its start,
  // and its end status (success or failure). One run directory is one session.
  struct HParam {
    std::string name;
    enum Kind { kNumber, kString, kBool } kind = kNumber;
    double number = 0;
    std::string text;
    bool flag = false;
  };
  Status AddHparamsStart(const std::vector<HParam>& hparams, const std::string& group);
  Status AddHparamsEnd(bool success);
  Status Flush();
  const std::string& path() const { return path_; }
  int64_t records() const { return records_; }

 private:
  EventWriter() = default;
  Status Append(const framecast::tb::Event& event);

  std::string path_;
  FILE* file_ = nullptr;
  EventWriterOptions options_;
  int64_t records_ = 0, unflushed_ = 0;
  double last_flush_ = 0;  // steady seconds
};

// "events.out.tfevents.<unix_seconds>.<host>.<pid>".
std::string EventFileName(int64_t unix_seconds, const std::string& host, int pid);

}  // namespace fc::log
