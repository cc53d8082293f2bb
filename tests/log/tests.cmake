# framecast_log suite (label unit): TFRecord framing, event files, metrics.jsonl, console text, the
# banner, filmstrips, runs list (gtest); and real `framecast train` runs read back by the tensorboard
# package, ffprobe and `framecast runs list` (log_cli_test.sh).
add_executable(framecast_log_tests log/log_test.cc)
target_link_libraries(framecast_log_tests PRIVATE framecast_log GTest::gtest GTest::gtest_main)
framecast_use_pch(framecast_log_tests)
gtest_discover_tests(framecast_log_tests TEST_PREFIX log. PROPERTIES LABELS unit TIMEOUT 60
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)
add_test(NAME unit.log_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/log/log_cli_test.sh
  $<TARGET_FILE:framecast> ${CMAKE_CURRENT_BINARY_DIR}/log-cli ${FRAMECAST_PYTHON} ${CMAKE_SOURCE_DIR}
  ${MPIRUN})
set_tests_properties(unit.log_cli PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "${FC_MPI_ENV}")
# launch/demo.sh itself, a few steps per stage, then its TensorBoard files and sample videos.
add_test(NAME demo.quick COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/log/demo_test.sh ${CMAKE_SOURCE_DIR}
  ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/demo-quick ${FRAMECAST_PYTHON})
set_tests_properties(demo.quick PROPERTIES LABELS demo TIMEOUT 600 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
# logging.timeline: per-rank trace-event files of a 2-rank run, `framecast runs timeline`, bounds
# and bad files (timeline_test.sh).
add_test(NAME dist.timeline.np2 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/log/timeline_test.sh ${MPIRUN}
  $<TARGET_FILE:framecast> ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR} ${FRAMECAST_PYTHON})
set_tests_properties(dist.timeline.np2 PROPERTIES LABELS dist TIMEOUT 300 ENVIRONMENT "${FC_MPI_ENV}")
