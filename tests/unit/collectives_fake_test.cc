// The in-process fake backend: exact collectives, error values, timeouts.
#include <gtest/gtest.h>

#include "common/checks.h"
#include "common/ranks.h"

namespace fc::testing {
namespace {

TEST(FakeCollectives, ExactForSizesAndDtypes) {
  for (int ranks : {1, 2, 3, 7}) {
    for (at::ScalarType dt : {at::kFloat, at::kDouble, at::kBFloat16, at::kLong}) {
      for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{1001}, int64_t{1} << 20}) {
        if (ranks == 7 && count > 1001) continue;  // keep the test fast
        RunRanks(ranks, [&](int, dist::Communicator* c) { CheckCollectivesExact(c, count, dt); });
      }
    }
  }
}

TEST(FakeCollectives, AverageOfIntegersIsAnError) {
  RunRanks(2, [](int, dist::Communicator* c) {
    at::Tensor t = at::ones({4}, at::kLong);
    Status s = c->AllReduce(t, dist::ReduceOp::kAvg)->Wait();
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  });
}

TEST(FakeCollectives, NonContiguousIsAnError) {
  RunRanks(1, [](int, dist::Communicator* c) {
    at::Tensor t = at::ones({4, 4}).t();
    Status s = c->AllReduce(t, dist::ReduceOp::kSum)->Wait();
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
    EXPECT_NE(s.message().find("contiguous"), std::string::npos);
  });
}

TEST(FakeCollectives, MissingRankTimesOutWithItsName) {
  dist::FakeHub hub(3, std::chrono::milliseconds(200));
  auto c0 = hub.Make(0);
  at::Tensor t = at::ones({3});
  Status s = c0->AllReduce(t, dist::ReduceOp::kSum)->Wait();
  EXPECT_EQ(s.code(), Status::Code::kDeadlineExceeded);
  EXPECT_NE(s.message().find("ranks never arrived: 1,2"), std::string::npos) << s.message();
}

TEST(Backend, ParseNames) {
  EXPECT_EQ(dist::ParseBackend("auto").value(), dist::Backend::kAuto);
  EXPECT_EQ(dist::ParseBackend("nccl").value(), dist::Backend::kNccl);
  EXPECT_EQ(dist::ParseBackend("mpi").value(), dist::Backend::kMpi);
  auto bad = dist::ParseBackend("gloo");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'gloo'"), std::string::npos);
}

}  // namespace
}  // namespace fc::testing
