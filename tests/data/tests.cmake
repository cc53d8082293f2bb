# Data pipeline tests (label unit): IDX files, Moving MNIST, sampler, loader, FFmpeg decoding,
# the prepared layout, GIF/MP4 writing, and the `framecast data` command line.
add_executable(framecast_data_tests data/test_util.cc data/idx_test.cc data/moving_mnist_test.cc
  data/sampler_test.cc data/loader_test.cc data/decode_test.cc data/prepared_test.cc
  data/media_test.cc)
target_link_libraries(framecast_data_tests PRIVATE framecast_data framecast_media GTest::gtest_main)
target_include_directories(framecast_data_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
framecast_use_pch(framecast_data_tests)
# One CTest entry for the whole binary (about 6 s): per-test processes would each pay LibTorch's
# start-up, several times the tests' own run time.
add_test(NAME unit.data COMMAND framecast_data_tests)
set_tests_properties(unit.data PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=1")
add_test(NAME unit.data_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data/data_cli_test.sh
  $<TARGET_FILE:framecast> ${CMAKE_CURRENT_BINARY_DIR}/data-cli)
set_tests_properties(unit.data_cli PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=1")
