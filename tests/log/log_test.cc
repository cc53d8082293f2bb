// framecast_log unit tests: TFRecord framing against the CRC-32C reference, event files decoded
// back record by record, metrics.jsonl lines, console text, the banner's layout, filmstrips. The
// TensorBoard reader's view of real runs is checked by log_cli_test.sh.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "log/banner.h"
#include "log/console.h"
#include "log/event.pb.h"
#include "log/event_writer.h"
#include "log/metrics_log.h"
#include "log/samples.h"
#include "log/tfrecord.h"
#include "util/crc32c.h"
#include "util/files.h"

namespace fc::log {
namespace {

// A fresh path under one temporary directory of this process, removed at exit.
std::string TempDir(const std::string& name) {
  struct Root {
    std::string path;
    Root() {
      char buf[] = "/tmp/framecast-log-test-XXXXXX";
      const char* d = mkdtemp(buf);
      path = d != nullptr ? d : "/tmp";
    }
    ~Root() { (void)fc::RemoveTree(path); }
  };
  static Root root;
  static int n = 0;
  return root.path + "/" + std::to_string(n++) + "-" + name;
}

uint32_t Le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

uint32_t MaskReference(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

TEST(TfRecord, FramingMatchesTheDefinition) {
  const std::string data = "hello, tensorboard";
  const std::string rec = FrameRecord(data);
  ASSERT_EQ(rec.size(), data.size() + 16);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<uint8_t>(rec[i])) << (8 * i);
  EXPECT_EQ(len, data.size());
  EXPECT_EQ(Le32(rec, 8), MaskReference(fc::Crc32cReference(rec.data(), 8)));
  EXPECT_EQ(rec.substr(12, data.size()), data);
  EXPECT_EQ(Le32(rec, 12 + data.size()),
            MaskReference(fc::Crc32cReference(data.data(), data.size())));
  // CRC-32C check value: crc32c("123456789") = 0xE3069283.
  EXPECT_EQ(MaskedCrc32c("123456789", 9), MaskReference(0xE3069283u));
}

TEST(TfRecord, ParseRoundTripsAndNamesDamage) {
  std::string bytes = FrameRecord("a") + FrameRecord("") + FrameRecord(std::string(1000, 'x'));
  auto recs = ParseRecords(bytes);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  ASSERT_EQ(recs.value().size(), 3u);
  EXPECT_EQ(recs.value()[0], "a");
  EXPECT_EQ(recs.value()[1], "");
  EXPECT_EQ(recs.value()[2], std::string(1000, 'x'));

  std::string bad = bytes;
  bad[17 + 16 + 12 + 5] ^= 1;  // a data byte of the third record
  auto r = ParseRecords(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("record 2 at byte offset 33: data CRC"), std::string::npos)
      << r.status().message();
  bad = bytes;
  bad[0] ^= 1;  // the first record's length
  r = ParseRecords(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("record 0 at byte offset 0: length CRC"), std::string::npos);
  r = ParseRecords(bytes.substr(0, bytes.size() - 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
}

TEST(EventWriter, WritesVersionScalarsAndImages) {
  const std::string dir = TempDir("tb");
  std::string path;
  {
    auto w = EventWriter::Open(dir);
    ASSERT_TRUE(w.ok()) << w.status().message();
    path = w.value()->path();
    EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const std::string tail = "." + std::string(host) + "." + std::to_string(getpid());
    EXPECT_EQ(path.substr(path.size() - tail.size()), tail);
    ASSERT_TRUE(w.value()->AddScalars(7, {{"loss", 0.25}, {"lr", 1e-3}}).ok());
    ASSERT_TRUE(w.value()->AddImage("samples", 9, "\x89PNG-bytes", 3, 4, 1).ok());
  }  // destruction flushes
  auto bytes = fc::ReadSmallFile(path, 1 << 20);
  ASSERT_TRUE(bytes.ok());
  auto recs = ParseRecords(bytes.value());
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  ASSERT_EQ(recs.value().size(), 3u);
  framecast::tb::Event e;
  ASSERT_TRUE(e.ParseFromString(recs.value()[0]));
  EXPECT_EQ(e.file_version(), "brain.Event:2");
  ASSERT_TRUE(e.ParseFromString(recs.value()[1]));
  EXPECT_EQ(e.step(), 7);
  ASSERT_EQ(e.summary().value_size(), 2);
  EXPECT_EQ(e.summary().value(0).tag(), "loss");
  EXPECT_EQ(e.summary().value(0).simple_value(), 0.25f);
  EXPECT_EQ(e.summary().value(1).simple_value(), 1e-3f);
  EXPECT_GT(e.wall_time(), 1.5e9);
  ASSERT_TRUE(e.ParseFromString(recs.value()[2]));
  EXPECT_EQ(e.step(), 9);
  const auto& im = e.summary().value(0).image();
  EXPECT_EQ(im.height(), 3);
  EXPECT_EQ(im.width(), 4);
  EXPECT_EQ(im.colorspace(), 1);
  EXPECT_EQ(im.encoded_image_string(), "\x89PNG-bytes");
}

TEST(EventWriter, FlushesEveryNRecords) {
  const std::string dir = TempDir("tb");
  EventWriterOptions o;
  o.flush_every_records = 2;
  o.flush_every_seconds = 1e9;
  auto w = EventWriter::Open(dir, o);
  ASSERT_TRUE(w.ok());
  auto size = [&] { return fc::FileSize(w.value()->path()).value(); };
  const uint64_t first = size();  // the version record, flushed by Open
  EXPECT_GT(first, 16u);
  ASSERT_TRUE(w.value()->AddScalar("a", 1, 1.0).ok());
  EXPECT_EQ(size(), first);  // buffered
  ASSERT_TRUE(w.value()->AddScalar("a", 2, 2.0).ok());
  EXPECT_GT(size(), first);  // second record since the flush
}

TEST(Metrics, LineFormatAndParse) {
  const std::string line = MetricsLine(
      12, "level\"1", 3, 1700000000.5,
      {{"loss", 0.125}, {"kl1", 2e-7}, {"bad", std::numeric_limits<double>::quiet_NaN()}});
  EXPECT_EQ(
      line,
      "{\"step\": 12, \"stage\": \"level\\\"1\", \"stage_step\": 3, \"time\": 1700000000.500, "
      "\"loss\": 0.125, \"kl1\": 2e-07, \"bad\": null}");
  auto kv = ParseFlatJson(line);
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  ASSERT_EQ(kv.value().size(), 7u);
  EXPECT_EQ(kv.value()[1].first, "stage");
  EXPECT_EQ(kv.value()[1].second, "level\"1");
  EXPECT_EQ(kv.value()[4].first, "loss");
  EXPECT_EQ(kv.value()[4].second, "0.125");
  EXPECT_EQ(kv.value()[6].second, "null");
  EXPECT_FALSE(ParseFlatJson("{\"a\": [1]}").ok());
  EXPECT_FALSE(ParseFlatJson("{\"a\" 1}").ok());
}

TEST(Metrics, AppendsAcrossOpens) {
  const std::string dir = TempDir("run");
  ASSERT_TRUE(fc::MakeDirs(dir).ok());
  for (int i = 0; i < 2; ++i) {
    auto m = MetricsLog::Open(dir + "/metrics.jsonl");
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m.value()->Write(i + 1, "main", i + 1, {{"loss", 1.5}}).ok());
  }
  auto text = fc::ReadSmallFile(dir + "/metrics.jsonl", 1 << 20);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::count(text.value().begin(), text.value().end(), '\n'), 2);
  EXPECT_EQ(text.value().rfind("{\"step\": 1, \"stage\": \"main\", \"stage_step\": 1, ", 0), 0u);
  EXPECT_NE(text.value().find("\n{\"step\": 2, \"stage\": \"main\", \"stage_step\": 2, "),
            std::string::npos);
}

TEST(Console, StepLineAndProgressBar) {
  StepStats s;
  s.stage = "main";
  s.step = 5;
  s.steps = 100;
  s.global_step = 105;
  s.scalars = {{"loss", 0.25}, {"lr", 1e-4}, {"grad_norm", 3.5}};
  s.ms_per_step = 12.34;
  s.clips_per_s = 2593.2;
  s.eta_seconds = 3725;
  EXPECT_EQ(FormatStepLine(s),
            "stage main step 5/100 (global 105) loss 0.25 lr 0.0001 grad_norm 3.5 | 12.3 ms/step "
            "2593 clips/s ETA 1:02:05");
  s.step = 36;
  EXPECT_EQ(FormatProgressBar(s, 10),
            "main [###-------] 36/100  36% 12.3 ms/step 2593 clips/s ETA 1:02:05");
  StepStats bare;
  bare.stage = "s";
  bare.step = 1;
  bare.steps = 1;
  bare.global_step = 1;
  EXPECT_EQ(FormatStepLine(bare), "stage s step 1/1 (global 1)");
  EXPECT_EQ(FormatDuration(7), "0:00:07");
  EXPECT_EQ(FormatDuration(90061), "1d 01:01:01");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(Banner, LayoutAndVersions) {
  EXPECT_EQ(FormatLayout({{"a", -1}, {"a", -1}, {"b", -1}}),
            "3 rank(s) on 2 host(s): a ranks 0-1; b ranks 2");
  EXPECT_EQ(FormatLayout({{"n1", 0}, {"n1", 1}, {"n2", 0}, {"n1", 2}}),
            "4 rank(s) on 2 host(s): n1 ranks 0-1,3 (GPUs 0,1,2); n2 ranks 2 (GPUs 0)");
  VersionInfo v{"0.1.0", "2.11.0", "", "", "Open MPI v4.1.4"};
  EXPECT_EQ(FormatVersions(v), "framecast 0.1.0 | LibTorch 2.11.0 | MPI Open MPI v4.1.4");
  v.cuda = "13.0 (driver 13.0)";
  v.nccl = "2.27.7";
  EXPECT_EQ(FormatVersions(v),
            "framecast 0.1.0 | LibTorch 2.11.0 | CUDA 13.0 (driver 13.0) | NCCL 2.27.7 | MPI Open "
            "MPI v4.1.4");
}

TEST(Samples, FilmstripPutsTilesInRowsAndFramesInColumns) {
  SampleGrid g;
  // Tile 0: 3 grey frames whose value is 10 * (frame + 1); tile 1: 2 RGB frames (float).
  at::Tensor grey = at::empty({3, 1, 2, 2}, at::kByte);
  for (int f = 0; f < 3; ++f) grey[f].fill_(10 * (f + 1));
  at::Tensor rgb = at::zeros({2, 3, 2, 2}, at::kFloat);
  rgb.select(1, 0).fill_(1.0);  // red
  g.tiles = {grey, rgb};
  at::Tensor s = Filmstrip(g);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{2 * 4 - 2, 3 * 4 - 2, 3}));
  EXPECT_EQ(s[0][0][0].item<int>(), 10);
  EXPECT_EQ(s[1][9][2].item<int>(), 30);   // frame 2 of tile 0, blue channel (grey expanded)
  EXPECT_EQ(s[0][2][0].item<int>(), 0);    // the gap between frames
  EXPECT_EQ(s[4][0][0].item<int>(), 255);  // tile 1, red
  EXPECT_EQ(s[4][0][1].item<int>(), 0);
  EXPECT_EQ(s[4][8][0].item<int>(), 255);  // tile 1 holds its last frame
}

}  // namespace
}  // namespace fc::log
