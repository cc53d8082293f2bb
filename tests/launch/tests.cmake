# The air-gapped path: launch/bundle.sh + launch/setup.sh --offline build a framecast against an
# Open MPI and protobuf unpacked into a prefix, and the result runs on them (label launch).

# Run under the prefix's mpirun by offline_test.sh: an MPI all-reduce through framecast's
# communicator, a protobuf round trip, and a check that every MPI/protobuf library it mapped lies in
# the prefix. Small on purpose: the offline build in the test builds only this target.
add_executable(framecast_offline_probe ${CMAKE_CURRENT_LIST_DIR}/offline_probe.cc)
target_link_libraries(framecast_offline_probe PRIVATE framecast_dist)
framecast_use_pch(framecast_offline_probe)

# Downloads the bundle (skips with exit 77 when Debian's registry cannot be reached), then builds
# in ${CMAKE_CURRENT_BINARY_DIR}/launch-offline: fixed paths, so that ccache hits on reruns.
add_test(NAME launch.offline COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/offline_test.sh
  ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/launch-offline)
set_tests_properties(launch.offline PROPERTIES LABELS launch TIMEOUT 900 SKIP_RETURN_CODE 77
  RUN_SERIAL ON ENVIRONMENT "${FC_MPI_ENV}")
