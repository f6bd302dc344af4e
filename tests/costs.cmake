# ctest runs tests in descending COST under -j; without a CTestCostData.txt (a fresh clone, as in CI)
# every test costs the same and they run in the order they were added, so the long script tests,
# added last, ran alone at the end (a 250 s tail in the sanitizer run). Their seconds, measured on
# 2 cores (scripts/test.sh, Intel Xeon, 2026-12-03): Release, then ASan + UBSan. Only the order
# matters; a test missing here counts as 0 and fills the gaps. The embedding tests: after f592d6b.
set(_qwen3_test_costs
  server_structured_corpus 253 398   reference_forward_tp4 175 61   reference_forward_tp2 158 60
  reference_quantized 138 54         reference_forward 103 52       reference_embed_rerank 22 51
  tokenizer_peer_comparison 45 94    server_embeddings 20 20        server_hostile 42 75
  tp_faults 41 54                    tp_cli 36 79                   server_structured 33 229
  server_soak_test_tp2 31 33         server_soak_test 24 27         spec_cli 21 87
  server_load_test_tp2 18 45         chat_cli 16 63                 bench_cli 8 50
  text_cli 8 34                      corrupt_checkpoint 9 33        chat_template_peer_comparison 8 31
  server_load_test 8 34              server_curl_tp2 12 23          structured_cli 7 22
  server_request_matrix 70 400)
list(LENGTH _qwen3_test_costs _n)
math(EXPR _last "${_n} - 1")
foreach(_i RANGE 0 ${_last} 3)
  math(EXPR _r "${_i} + 1")
  math(EXPR _a "${_i} + 2")
  list(GET _qwen3_test_costs ${_i} _name)
  if(QWEN3_SANITIZE)
    list(GET _qwen3_test_costs ${_a} _cost)
  else()
    list(GET _qwen3_test_costs ${_r} _cost)
  endif()
  if(TEST ${_name})
    set_tests_properties(${_name} PROPERTIES COST ${_cost})
  endif()
endforeach()
