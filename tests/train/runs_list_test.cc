// `framecast runs list`: run directories found under a folder, and where each stands.
#include "train/runs_list.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "log/metrics_log.h"
#include "util/files.h"

namespace fc::train {
namespace {

using log::MetricsLine;

std::string TempDir(const std::string& name) {
  struct Root {
    std::string path;
    Root() {
      char buf[] = "/tmp/framecast-runs-test-XXXXXX";
      const char* d = mkdtemp(buf);
      path = d != nullptr ? d : "/tmp";
    }
    ~Root() { (void)fc::RemoveTree(path); }
  };
  static Root root;
  static int n = 0;
  return root.path + "/" + std::to_string(n++) + "-" + name;
}

TEST(RunsList, SummarizesConfigMetricsAndCheckpoints) {
  const std::string root = TempDir("runs");
  const std::string run = root + "/group/r1";
  ASSERT_TRUE(fc::MakeDirs(run).ok());
  ASSERT_TRUE(fc::WriteFileAtomic(run + "/config.pbtxt",
                                  "name: \"r1\" model { demo {} } stages { name: \"a\" steps: 4 } "
                                  "stages { name: \"b\" steps: 6 }")
                  .ok());
  ASSERT_TRUE(fc::WriteFileAtomic(run + "/metrics.jsonl",
                                  MetricsLine(5, "b", 1, 0, {{"g_loss", 0.5}}) + "\n" +
                                      MetricsLine(6, "b", 2, 0, {{"g_loss", 0.375}}) + "\n{\"st")
                  .ok());
  ASSERT_TRUE(fc::MakeDirs(root + "/not-a-run/deeper").ok());
  auto runs = ListRuns(root);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs.value().size(), 1u);
  const RunSummary& r = runs.value()[0];
  EXPECT_EQ(r.name, "r1");
  EXPECT_EQ(r.family, "demo");
  EXPECT_EQ(r.stage, "b");
  EXPECT_EQ(r.step, 2);
  EXPECT_EQ(r.stage_steps, 6);
  EXPECT_EQ(r.global_step, 6);
  EXPECT_EQ(r.total_steps, 10);
  EXPECT_TRUE(r.has_loss);
  EXPECT_EQ(r.loss_name, "g_loss");
  EXPECT_EQ(r.loss, 0.375);
  EXPECT_EQ(r.last_checkpoint, "");
  const std::string table = FormatRunsTable(runs.value());
  EXPECT_NE(table.find("r1"), std::string::npos);
  EXPECT_NE(table.find("2/6"), std::string::npos);
  EXPECT_NE(table.find("0.375"), std::string::npos);
  EXPECT_FALSE(ListRuns(root + "/missing").ok());
}

}  // namespace
}  // namespace fc::train
