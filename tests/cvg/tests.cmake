# tests/cvg: the cascaded video GAN's modules, configs and cascade coordinator (label unit; small
# widths, CPU; multi-rank logic over the in-process fake backend), and the CLI under mpirun.
add_executable(framecast_cvg_tests cvg/cvg_model_test.cc cvg/cvg_config_test.cc
  cvg/cvg_train_test.cc)
target_link_libraries(framecast_cvg_tests PRIVATE framecast_cvg framecast_config framecast_testing
  GTest::gtest_main)
target_compile_definitions(framecast_cvg_tests PRIVATE
  FRAMECAST_SOURCE_DIR="${CMAKE_SOURCE_DIR}" FRAMECAST_PYTHON_EXE="${FRAMECAST_PYTHON}")
framecast_use_pch(framecast_cvg_tests)
gtest_discover_tests(framecast_cvg_tests PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60 WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

# The tiny cascade through the command line on 2 ranks: killed in stage 2, resumed, same final
# parameters as an uninterrupted run; `framecast sample` writes a playable MP4.
add_test(NAME dist.cvg_cli.np2 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cvg/cvg_cli_test.sh ${MPIRUN}
  $<TARGET_FILE:framecast> ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(dist.cvg_cli.np2 PROPERTIES LABELS dist TIMEOUT 600 ENVIRONMENT "${FC_MPI_ENV}")
