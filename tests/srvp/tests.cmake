# framecast_srvp suite: config rules, shapes of training and generation (dt and dt/2), the loss
# against its parts, the closed-form KL, noise-keyed determinism, and one step from the same
# weights and noise against the PyTorch peer written from the spec (bench/peers/srvp_step.py
# --check: loss and every gradient in float64) and its parameter counts for every SRVP config.
add_executable(framecast_srvp_tests srvp/srvp_test.cc)
target_link_libraries(framecast_srvp_tests PRIVATE framecast_testing GTest::gtest_main)
target_compile_definitions(framecast_srvp_tests PRIVATE FRAMECAST_PYTHON="${FRAMECAST_PYTHON}"
  FRAMECAST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
framecast_use_pch(framecast_srvp_tests)
gtest_discover_tests(framecast_srvp_tests PROPERTIES LABELS unit TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)
