# tests/train: the training step's fast paths (config.performance): bf16 autocast, channels-last,
# the step's host synchronisations and the config rules (label unit, CPU, tiny models); the GPU
# step against the CPU reference and CUDA-graph replay against the eager step (label gpu, skipped
# without a CUDA device).
add_executable(framecast_train_tests train/performance_test.cc train/early_stopping_test.cc
  train/family_test.cc train/runs_list_test.cc)
target_link_libraries(framecast_train_tests PRIVATE framecast_testing GTest::gtest_main)
framecast_use_pch(framecast_train_tests)
gtest_discover_tests(framecast_train_tests PROPERTIES LABELS unit TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)

add_executable(framecast_train_gpu_tests train/performance_gpu_test.cc)
target_link_libraries(framecast_train_gpu_tests PRIVATE framecast_testing GTest::gtest_main)
framecast_use_pch(framecast_train_gpu_tests)
gtest_discover_tests(framecast_train_gpu_tests TEST_PREFIX gpu. PROPERTIES LABELS gpu TIMEOUT 600
  DISCOVERY_TIMEOUT 60)
target_compile_definitions(framecast_train_tests PRIVATE FRAMECAST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_compile_definitions(framecast_train_gpu_tests PRIVATE FRAMECAST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# Evaluation during training and early stopping through the command line (2 ranks).
add_test(NAME dist.eval_training.np2 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train/eval_training_test.sh
  ${MPIRUN} $<TARGET_FILE:framecast> ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(dist.eval_training.np2 PROPERTIES LABELS dist TIMEOUT 600 ENVIRONMENT "${FC_MPI_ENV}")
