// The model-family registry (train/family.h): every `family` oneof member of ModelConfig has
// exactly one registered family of the same name, the registry's config rules reach the
// families, and a family's missing features are refused with the field and the family's name.
#include "train/family.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/run_config.h"

namespace fc::train {
namespace {

TEST(FamilyRegistry, EveryOneofMemberHasOneFamilyOfItsName) {
  const auto* oneof = framecast::ModelConfig::descriptor()->FindOneofByName("family");
  ASSERT_NE(oneof, nullptr);
  std::set<std::string> members, names;
  std::set<int> cases;
  for (int i = 0; i < oneof->field_count(); ++i) members.insert(oneof->field(i)->name());
  for (const Family* f : Families()) {
    EXPECT_TRUE(names.insert(f->name()).second) << "two families named " << f->name();
    EXPECT_TRUE(cases.insert(f->config_case()).second) << f->name();
    const auto* field = framecast::ModelConfig::descriptor()->FindFieldByNumber(f->config_case());
    ASSERT_NE(field, nullptr) << f->name();
    EXPECT_EQ(field->name(), f->name()) << "the family's name is its oneof member's name";
    EXPECT_EQ(FamilyNamed(f->name()), f);
  }
  EXPECT_EQ(names, members) << "a oneof member without a family, or a family without a member";
  EXPECT_EQ(FamilyNamed("no-such-family"), nullptr);
}

TEST(FamilyRegistry, ConfigWithoutFamilyIsRefused) {
  framecast::RunConfig c;
  auto f = FamilyFor(c);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("model"), std::string::npos);
}

const char* kDemo = R"(name: "t"
data { global_batch: 4 procedural_blobs {} }
model { demo {} }
optimizers { sgd { momentum: 0.9 } lr: 0.1 }
stages { steps: 3 }
)";

Result<framecast::RunConfig> Load(const std::string& text, const std::vector<std::string>& sets) {
  FC_ASSIGN_OR_RETURN(auto c, config::ParseRunConfigText(text, "c.pbtxt"));
  for (const auto& s : sets) FC_RETURN_IF_ERROR(config::ApplyOverride(&c, s));
  config::ApplyDefaults(&c);
  FC_RETURN_IF_ERROR(config::Validate(c));
  return c;
}

TEST(FamilyRegistry, FamilyDefaultsAndRulesRunThroughTheRegistry) {
  InstallFamilyConfigHooks();
  auto c = Load(kDemo, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c.value().model().demo().width(), 16);  // DemoFamily().ApplyDefaults
  ASSERT_TRUE(FamilyFor(c.value()).ok());
  EXPECT_EQ(FamilyFor(c.value()).value()->name(), "demo");
  // The demo's data rule is the family's, reported when the config is loaded.
  auto mm = Load(kDemo, {"data.moving_mnist.image_size=64"});
  ASSERT_FALSE(mm.ok());
  EXPECT_NE(mm.status().message().find("demo family"), std::string::npos) << mm.status().message();
}

TEST(FamilyRegistry, UnsupportedPerformanceOptionNamesTheFamilies) {
  InstallFamilyConfigHooks();
  for (const char* set : {"performance.precision=BF16", "performance.channels_last=true",
                          "performance.cuda_graphs=true"}) {
    auto c = Load(kDemo, {set});
    ASSERT_FALSE(c.ok()) << set;
    const std::string m = c.status().message();
    const std::string field = std::string(set).substr(0, std::string(set).find('='));
    EXPECT_EQ(m.rfind(field, 0), 0u) << m;
    EXPECT_NE(m.find("family demo"), std::string::npos) << m;
    EXPECT_NE(m.find("hvrnn"), std::string::npos) << m;  // it has all three
  }
}

TEST(FamilyRegistry, FamiliesWithoutEvalOrSamplerAreRefusedByName) {
  const Family& demo = DemoFamily();
  framecast::RunConfig c;
  SampleRequest s;
  s.run_dir = "runs/x";
  auto r = demo.Sample(c, framecast::ckpt::Manifest(), s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("runs/x: model: family demo has no sampler"),
            std::string::npos)
      << r.status().message();
  auto sum = demo.Summary(c);
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.status().message().find("family demo"), std::string::npos);
}

}  // namespace
}  // namespace fc::train
