# Fault tests (label faults): the watchdog, stop signals, the non-finite guard, SLURM, two nodes.
# Included from tests/CMakeLists.txt (FC_MPI_ENV, MPIRUN, framecast_testing are defined there).
set(FC_FAULTS_DIR "${CMAKE_CURRENT_SOURCE_DIR}/faults")
set(FC_FAULTS_WORK "${CMAKE_CURRENT_BINARY_DIR}/faults-work")

add_executable(framecast_faults_tests faults/faults_unit_test.cc)
target_link_libraries(framecast_faults_tests PRIVATE framecast_testing GTest::gtest_main)
framecast_use_pch(framecast_faults_tests)
gtest_discover_tests(framecast_faults_tests TEST_PREFIX "faults." PROPERTIES LABELS "faults;unit"
  TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)

foreach(t kill_rank hang nonfinite signal startup_errors)
  add_test(NAME faults.${t} COMMAND bash ${FC_FAULTS_DIR}/${t}_test.sh ${MPIRUN} $<TARGET_FILE:framecast>
    ${FC_FAULTS_WORK})
  set_tests_properties(faults.${t} PROPERTIES LABELS faults TIMEOUT 300 ENVIRONMENT "${FC_MPI_ENV}")
endforeach()

# The run directory against a second job, damage, planted links; launch/run.sh under SIGTERM; torchrun.
add_test(NAME faults.run_dir COMMAND bash ${FC_FAULTS_DIR}/run_dir_test.sh ${MPIRUN} $<TARGET_FILE:framecast>
  ${FC_FAULTS_WORK} ${FRAMECAST_PYTHON})
set_tests_properties(faults.run_dir PROPERTIES LABELS faults TIMEOUT 600 ENVIRONMENT "${FC_MPI_ENV}")

# Real SLURM daemons on localhost (skips, exit 77, only when they cannot start here).
add_test(NAME faults.slurm COMMAND bash ${FC_FAULTS_DIR}/slurm_test.sh ${CMAKE_SOURCE_DIR}
  $<TARGET_FILE:framecast> ${FC_FAULTS_WORK})
set_tests_properties(faults.slurm PROPERTIES LABELS faults TIMEOUT 600 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE ENVIRONMENT "${FC_MPI_ENV}")

# Two nodes on one machine: network namespaces joined by a veth pair (skips where not permitted).
add_test(NAME faults.two_nodes COMMAND bash ${FC_FAULTS_DIR}/two_nodes_test.sh ${MPIRUN}
  $<TARGET_FILE:framecast> ${FC_FAULTS_WORK})
set_tests_properties(faults.two_nodes PROPERTIES LABELS faults TIMEOUT 300 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE ENVIRONMENT "${FC_MPI_ENV}")
