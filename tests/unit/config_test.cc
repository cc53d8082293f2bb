// Run configs: syntax errors with file:line:column, overrides, defaults, semantic rules.
#include <gtest/gtest.h>

#include "config/run_config.h"

namespace fc::config {
namespace {

const char* kGood = R"(name: "t"
data { global_batch: 12 procedural_blobs {} }
model { demo {} }
optimizers { sgd { momentum: 0.9 } lr: 0.1 }
stages { steps: 3 }
)";

Result<framecast::RunConfig> Load(const std::string& text, std::vector<std::string> sets = {}) {
  FC_ASSIGN_OR_RETURN(auto c, ParseRunConfigText(text, "c.pbtxt"));
  for (auto& s : sets) FC_RETURN_IF_ERROR(ApplyOverride(&c, s));
  ApplyDefaults(&c);
  FC_RETURN_IF_ERROR(Validate(c));
  return c;
}

TEST(Config, GoodConfigGetsDefaults) {
  auto c = Load(kGood);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c.value().accumulation_steps(), 1);
  EXPECT_EQ(c.value().checkpoint().keep_last(), 3);
  EXPECT_EQ(c.value().stages(0).name(), "stage0");
  EXPECT_EQ(RunDir(c.value()), "checkpoints/t");
  // The effective text parses back to the same config.
  auto again = ParseRunConfigText(ToText(c.value()), "effective");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ToText(again.value()), ToText(c.value()));
}

TEST(Config, SyntaxErrorsNameLineAndColumn) {
  auto c = Load("name: \"t\"\ndata {\n  global_bach: 3\n}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind("c.pbtxt:3:", 0), 0u) << c.status().message();
  EXPECT_NE(c.status().message().find("global_bach"), std::string::npos);
  auto e = Load("name: \"t\"\ndist { backend: NOPE }\n");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message().rfind("c.pbtxt:2:", 0), 0u) << e.status().message();
}

TEST(Config, Overrides) {
  auto c = Load(kGood, {"stages[0].steps=9", "name=run-2", "optimizers[0].lr=0.5",
                        "stages[1].steps=4", "dist.backend=BACKEND_MPI"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c.value().stages(0).steps(), 9);
  EXPECT_EQ(c.value().stages_size(), 2);
  EXPECT_EQ(c.value().name(), "run-2");
  EXPECT_EQ(c.value().optimizers(0).lr(), 0.5);
  for (const char* bad :
       {"nope=1", "stages.steps=1", "stages[5].steps=1", "data=3", "stages[0].steps=x", "=3"}) {
    auto r = Load(kGood, {bad});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(std::string("--set ") + bad), std::string::npos)
        << r.status().message();
  }
}

TEST(Config, SemanticRulesNameFieldAndRule) {
  struct Case {
    std::vector<std::string> sets;
    const char* expect;
  };
  for (const Case& c : std::vector<Case>{
           {{"name=a/b"}, "name: 'a/b' must match"},
           {{"stages[0].steps=0"}, "stages[0].steps: must be >= 1"},
           {{"checkpoint.keep_last=1"}, "checkpoint.keep_last: must be >= 2"},
           {{"optimizers[0].lr=0"}, "optimizers[0].lr: must be finite and > 0"},
           {{"optimizers[0].lr=inf"}, "optimizers[0].lr: must be finite and > 0"},
           {{"optimizers[0].weight_decay=nan"}, "optimizers[0].weight_decay: must be finite"},
           {{"optimizers[0].sgd.momentum=-1"}, "optimizers[0].sgd.momentum: must be finite"},
           {{"optimizers[0].adam.beta2=1"}, "optimizers[0].adam.beta2=1.000000: must be in [0, 1)"},
           {{"optimizers[0].adam.eps=-1"}, "optimizers[0].adam.eps: must be finite and > 0"},
           {{"dist.first_bucket_mib=-1"}, "dist.first_bucket_mib: must be in [0, 65536] MiB"},
           {{"dist.bucket_mib=1e9"}, "dist.bucket_mib: must be in [0, 65536] MiB"},
           {{"performance.deterministic=true", "performance.cudnn_benchmark=true"},
            "performance.cudnn_benchmark: autotuning is not deterministic"},
           {{"stages[99999999999].steps=1"}, "index 99999999999 is out of range"},
           {{"accumulation_steps=5"},
            "data.global_batch=12: not divisible by accumulation_steps (5)"},
       }) {
    auto r = Load(kGood, c.sets);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  auto ok = Load(kGood, {"accumulation_steps=2"});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ValidateForWorld(ok.value(), 3).ok());
  Status s = ValidateForWorld(ok.value(), 4);
  EXPECT_EQ(s.message(),
            "data.global_batch=12: not divisible by ranks (4) x accumulation_steps (2)");
}

}  // namespace
}  // namespace fc::config
