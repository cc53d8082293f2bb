# python/framecast against framecast: tiny hvrnn, srvp and cvg runs are exported (torch.load and
# safetensors), framecast_forward_dump writes framecast's forward, loss and generation of the same
# step with the noise it drew, and tests/python/check_forward.py reproduces them in PyTorch from the
# exported weights (float32, tolerance in the script). Damaged exports are one-line errors.
add_executable(framecast_forward_dump python/forward_dump.cc)
target_link_libraries(framecast_forward_dump PRIVATE framecast_train)
framecast_use_pch(framecast_forward_dump)
add_test(NAME unit.python_module
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/python/module_test.sh $<TARGET_FILE:framecast>
    $<TARGET_FILE:framecast_forward_dump> ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}
    ${FRAMECAST_PYTHON})
set_tests_properties(unit.python_module PROPERTIES LABELS unit TIMEOUT 600 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=1")
