# framecast_eval suite: metrics (fast vs loop reference), best-of-N selection, distributed
# evaluation over in-process ranks, Fréchet distance vs scipy, TorchScript I3D/LPIPS with random
# stand-in modules made by the venv's torch, PNG/CSV/JSON reports checked by Python.
add_executable(framecast_eval_tests eval/metrics_test.cc eval/best_of_n_test.cc
  eval/frechet_test.cc eval/torchscript_test.cc eval/report_test.cc eval/likelihood_test.cc
  eval/frame_classifier_test.cc)
target_link_libraries(framecast_eval_tests PRIVATE framecast_eval framecast_testing GTest::gtest_main)
target_compile_definitions(framecast_eval_tests PRIVATE FRAMECAST_PYTHON="${FRAMECAST_PYTHON}")
framecast_use_pch(framecast_eval_tests)
# One CTest entry per suite (not per case): each process pays LibTorch's start-up once.
foreach(suite Metrics BestOfN Frechet TorchScriptTest Png Report HeldOutElbo FrameClassifier)
  add_test(NAME unit.eval.${suite} COMMAND framecast_eval_tests --gtest_filter=${suite}.*)
  set_tests_properties(unit.eval.${suite} PROPERTIES LABELS unit TIMEOUT 120
    ENVIRONMENT "OMP_NUM_THREADS=1")
endforeach()
