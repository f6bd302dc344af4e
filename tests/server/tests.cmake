# The HTTP server with real clients: the official `openai` npm package (node), curl for malformed
# and hostile requests, a load test of 64 concurrent streams, and a soak with random disconnects.
# Each starts `qwen3 serve` on a free loopback port with a tiny test model.
find_program(NODE_EXECUTABLE node)
set(_server_env "QWEN3_BIN=$<TARGET_FILE:qwen3>")
if(NODE_EXECUTABLE)
  foreach(t openai_client load_test soak_test)
    add_test(NAME server_${t} COMMAND ${NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/${t}.mjs)
    set_tests_properties(server_${t} PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900)
  endforeach()
endif()
# Structured output through the openai client (tests/server/structured_test.mjs) and the JSON Schema
# corpus of tests/grammar end to end (structured_corpus.mjs). Both fail, never skip, without node or
# the npm peers (openai, ajv, ajv-formats, json-schema-test-suite: npm ci): without node the command
# `node` is not found and ctest counts the test as failed.
if(NODE_EXECUTABLE)
  set(_node ${NODE_EXECUTABLE})
else()
  set(_node node)
endif()
add_test(NAME server_structured COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/structured_test.mjs)
set_tests_properties(server_structured PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 1200 LABELS "peer;grammar")
add_test(NAME server_structured_corpus COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/structured_corpus.mjs)
if(QWEN3_SANITIZE)
  set(_corpus_timeout 1700)  # about 4x slower under ASan+UBSan, with one seed and 128 tokens
else()
  set(_corpus_timeout 600)   # 211 s measured on 2 cores
endif()
set_tests_properties(server_structured_corpus PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT ${_corpus_timeout} LABELS "peer;grammar")
# /v1/embeddings (openai client) and /v1/rerank (fetch) on Qwen3-Embedding / Qwen3-Reranker layouts.
add_test(NAME server_embeddings COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/embeddings_test.mjs)
set_tests_properties(server_embeddings PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 300)
# The web chat page served at /: its files and --cors-origin (preflights with and without it); its
# modules under node (tests/web/web_units.mjs: Markdown and XSS, the SSE reader, requests, storage);
# the page in headless chromium driven by puppeteer-core (tests/web/chat_browser.mjs). They fail,
# never skip, without node, chromium (/usr/bin/chromium, or QWEN3_CHROMIUM) or puppeteer-core.
add_test(NAME server_web_cors COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/web_cors_test.mjs)
set_tests_properties(server_web_cors PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 300)
add_test(NAME web_units COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/web/web_units.mjs)
set_tests_properties(web_units PROPERTIES TIMEOUT 60)
add_test(NAME web_chat_browser COMMAND ${_node} ${CMAKE_CURRENT_SOURCE_DIR}/tests/web/chat_browser.mjs)
if(QWEN3_SANITIZE)
  set(_browser_timeout 600)  # the server is several times slower under ASan+UBSan
else()
  set(_browser_timeout 300)
endif()
set_tests_properties(web_chat_browser PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT ${_browser_timeout})
add_test(NAME server_curl COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_curl.py)
set_tests_properties(server_curl PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900)
# Requests built to crash, hang or exhaust the server (raw sockets, a hostile chat template, slow
# headers, abandoned requests, the SIGTERM drain).
add_test(NAME server_hostile COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_hostile.py)
set_tests_properties(server_hostile PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 900)
# Every request field the parsers read, in every JSON type, at the top level of every POST route and
# in a chat request's nested objects, against live servers (generate, embed, rerank): 200 or a 400
# error object, never a 500 or a dropped connection.
add_test(NAME server_request_matrix COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_request_matrix.py)
set_tests_properties(server_request_matrix PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 1200)
# The server's environment variables (flags win), the access log in text and JSON, --log-level, --quiet.
add_test(NAME server_options COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_serve_options.py)
set_tests_properties(server_options PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 600)
# The same clients against a tensor-parallel server: `mpirun -n N qwen3 serve` (QWEN3_LAUNCH is the
# launcher prefix server_util.mjs and test_curl.py put before the binary). The servers are stopped
# by SIGTERM to rank 0 and the tests check that no rank is left running.
find_program(MPIRUN_EXECUTABLE mpirun)
if(MPIRUN_EXECUTABLE AND MPI_CXX_FOUND)  # mpirun, and a qwen3 built with MPI
  set(_ompi_root_env ${QWEN3_MPI_TEST_ENV})  # tests/integration/tests.cmake
  foreach(n 2 4)
    set(_tp_env "${_server_env}" ${_ompi_root_env} "QWEN3_LAUNCH=${MPIRUN_EXECUTABLE} -n ${n} --oversubscribe --bind-to none")
    if(NODE_EXECUTABLE)
      add_test(NAME server_openai_client_tp${n} COMMAND ${NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/openai_client.mjs)
      set_tests_properties(server_openai_client_tp${n} PROPERTIES ENVIRONMENT "${_tp_env}" TIMEOUT 600)
    endif()
    if(n EQUAL 2 AND NODE_EXECUTABLE)
      # 64 concurrent streams, each equal to its solo run; the soak with random disconnects, the
      # prefix cache and preemption (every KV change mirrored on the other rank).
      foreach(t load_test soak_test)
        add_test(NAME server_${t}_tp2 COMMAND ${NODE_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/${t}.mjs)
        set_tests_properties(server_${t}_tp2 PROPERTIES ENVIRONMENT "${_tp_env}" TIMEOUT 600)
      endforeach()
    endif()
    if(n EQUAL 2)
      add_test(NAME server_curl_tp2 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/test_curl.py)
      set_tests_properties(server_curl_tp2 PROPERTIES ENVIRONMENT "${_tp_env}" TIMEOUT 600)
    endif()
  endforeach()
endif()
# docs/server.md against the source and `qwen3 serve --help`: every route, request field, option
# (default, environment variable), metric and error code named; nothing named that is not there.
add_test(NAME server_docs COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/server/check_docs.py)
set_tests_properties(server_docs PROPERTIES ENVIRONMENT "${_server_env}" TIMEOUT 60)
