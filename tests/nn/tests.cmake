# tests/nn: the reusable layers of src/nn (label unit; each test well under a second to a few
# seconds on CPU).
add_executable(framecast_nn_tests nn/spectral_norm_test.cc nn/conditional_batch_norm_test.cc
  nn/standing_stats_test.cc nn/layers_test.cc)
target_link_libraries(framecast_nn_tests PRIVATE framecast_nn framecast_testing GTest::gtest_main)
framecast_use_pch(framecast_nn_tests)
gtest_discover_tests(framecast_nn_tests PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)
