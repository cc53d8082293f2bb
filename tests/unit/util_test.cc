#include <gtest/gtest.h>

#include "util/flags.h"
#include "util/status.h"

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
