# tests/bench: `framecast bench step CONFIG` end to end on the tiny CVG cascade (label unit; CPU, a
# few seconds of model work; checks output and exit codes, never timings).
add_test(NAME unit.bench_step_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_step_test.sh
  $<TARGET_FILE:framecast> ${CMAKE_SOURCE_DIR} ${FRAMECAST_PYTHON})
set_tests_properties(unit.bench_step_cli PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "OMP_NUM_THREADS=1")
