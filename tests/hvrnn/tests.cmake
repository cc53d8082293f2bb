# framecast_hvrnn suite: layer contracts against hand-written references, KL closed forms, the
# training loss against its parts, teacher forcing, generation, batch-split invariance (the
# data-parallel property), activation checkpointing, config validation, parameter counts against
# the PyTorch peer (bench/peers/hvrnn_step.py --count-only). CUDA checks skip without a GPU.
add_executable(framecast_hvrnn_tests hvrnn/layers_test.cc hvrnn/model_test.cc hvrnn/config_test.cc)
target_link_libraries(framecast_hvrnn_tests PRIVATE framecast_hvrnn GTest::gtest GTest::gtest_main)
target_include_directories(framecast_hvrnn_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_compile_definitions(framecast_hvrnn_tests PRIVATE FRAMECAST_PYTHON="${FRAMECAST_PYTHON}"
  FRAMECAST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
framecast_use_pch(framecast_hvrnn_tests)
gtest_discover_tests(framecast_hvrnn_tests PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "OMP_NUM_THREADS=1" DISCOVERY_TIMEOUT 60)
