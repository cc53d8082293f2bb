#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "util/flags.h"
#include "util/status.h"
#include "util/timeline.h"

namespace fc {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}
Status UseHalf(int x, int* out) {
  FC_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(Status, ValuesAndContext) {
  int v = 0;
  EXPECT_TRUE(UseHalf(4, &v).ok());
  EXPECT_EQ(v, 2);
  Status s = UseHalf(3, &v);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.WithContext("config.pbtxt").ToString(), "InvalidArgument: config.pbtxt: odd: 3");
}

TEST(Flags, ParsesAndRejects) {
  Flags f("cmd");
  f.Add("steps", "10", "");
  f.Add("size", "4K", "");
  const char* argv[] = {"x", "--steps", "7", "--size=32M", "pos"};
  ASSERT_TRUE(f.Parse(5, const_cast<char**>(argv), 1).ok());
  EXPECT_EQ(f.Int("steps").value(), 7);
  EXPECT_EQ(f.Bytes("size").value(), 32 << 20);
  EXPECT_EQ(f.positional().size(), 1u);

  Flags g("cmd");
  g.Add("steps", "10", "");
  const char* bad[] = {"x", "--stpes", "3"};
  Status s = g.Parse(3, const_cast<char**>(bad), 1);
  EXPECT_EQ(s.message(), "cmd: unknown flag --stpes");
  const char* notint[] = {"x", "--steps", "3x"};
  ASSERT_TRUE(g.Parse(3, const_cast<char**>(notint), 1).ok());
  EXPECT_FALSE(g.Int("steps").ok());
  EXPECT_NE(g.Int("steps").status().message().find("--steps"), std::string::npos);
}

}  // namespace
}  // namespace fc

// ---- util/timeline.h
// -----------------------------------------------------------------------------

TEST(Timeline, OffRecordsNothing) {
  fc::timeline::Disable();
  { fc::timeline::Span s("forward"); }
  fc::timeline::Record("x", "y", 0, 1, 0);
  EXPECT_TRUE(fc::timeline::Events().empty());
}

TEST(Timeline, KeepsTheNewestEventsInOrder) {
  fc::timeline::Enable(/*rank=*/3, /*max_events=*/3);
  const char* names[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; ++i) fc::timeline::Record(names[i], "t", i * 10, 5, 0, i);
  auto ev = fc::timeline::Events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_STREQ(ev[0].name, "c");
  EXPECT_STREQ(ev[2].name, "e");
  EXPECT_EQ(ev[2].arg, 4);
  EXPECT_EQ(fc::timeline::DroppedEvents(), 2);
  fc::timeline::Disable();
}

TEST(Timeline, JsonIsTraceEventFormatAndSpansNest) {
  fc::timeline::Enable(/*rank=*/1, /*max_events=*/100);
  {
    fc::timeline::Span outer("step", "step", 7);
    { fc::timeline::Span inner("forward", "compute"); }
    fc::timeline::Record("all-reduce", "comm", fc::timeline::NowUs(), 3, fc::timeline::CommTrack(2),
                         4096, "bytes");
  }
  fc::timeline::Record("quote\"and\\slash", "c", 1, -5, 0);  // negative durations clamp to 0
  const auto doc = nlohmann::json::parse(fc::timeline::ToJson());
  fc::timeline::Disable();
  ASSERT_TRUE(doc["traceEvents"].is_array());
  EXPECT_EQ(doc["otherData"]["rank"], 1);
  EXPECT_GT(doc["otherData"]["origin_unix_us"].get<int64_t>(), 0);
  std::map<std::string, nlohmann::json> x;
  std::set<std::string> track_names;
  for (const auto& e : doc["traceEvents"]) {
    for (const char* k : {"name", "ph", "pid", "tid"}) ASSERT_TRUE(e.contains(k)) << e.dump();
    EXPECT_EQ(e["pid"], 1);
    if (e["ph"] == "M") {
      if (e["name"] == "thread_name") track_names.insert(e["args"]["name"].get<std::string>());
      continue;
    }
    ASSERT_EQ(e["ph"], "X");
    ASSERT_TRUE(e["ts"].is_number_integer() && e["dur"].is_number_integer()) << e.dump();
    EXPECT_GE(e["dur"].get<int64_t>(), 0);
    x[e["name"].get<std::string>()] = e;
  }
  ASSERT_EQ(x.size(), 4u);
  EXPECT_TRUE(x.count("quote\"and\\slash"));
  EXPECT_EQ(x["step"]["args"]["step"], 7);
  EXPECT_EQ(x["all-reduce"]["args"]["bytes"], 4096);
  EXPECT_EQ(x["all-reduce"]["tid"], fc::timeline::CommTrack(2));
  EXPECT_TRUE(track_names.count("train") && track_names.count("all-reduce, bucket 2"));
  const auto& o = x["step"];
  const auto& i = x["forward"];
  EXPECT_LE(o["ts"].get<int64_t>(), i["ts"].get<int64_t>());
  EXPECT_GE(o["ts"].get<int64_t>() + o["dur"].get<int64_t>(),
            i["ts"].get<int64_t>() + i["dur"].get<int64_t>());
}
