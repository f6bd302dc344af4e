# The floors of src/ (docs/design.md): every include and module dependency points down.
add_test(NAME layering COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/check_layers.py ${CMAKE_CURRENT_SOURCE_DIR})
# Script tests that drive the qwen3 binary.
add_test(NAME cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_cli.py)
set_tests_properties(cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 900)
add_test(NAME text_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_text_cli.py)
set_tests_properties(text_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 900)
add_test(NAME bench_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_bench.py)
set_tests_properties(bench_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 900)
# The matmul drivers' software prefetches are in the binary (a helper GCC dropped once: the script).
add_test(NAME kernel_prefetch COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/check_prefetch.py)
set_tests_properties(kernel_prefetch PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 300)
# bench --depth as a list, the KV cache sized for it, YaRN's context, refusals before any work.
add_test(NAME bench_depth_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_bench_depth.py)
set_tests_properties(bench_depth_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 300)
# Corrupt checkpoints (>= 60 generated cases): each must fail with one line naming the file and the
# field or tensor, within time and memory bounds, never by a signal or a hang.
add_test(NAME corrupt_checkpoint COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_corrupt_checkpoint.py)
set_tests_properties(corrupt_checkpoint PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 600)
# Speculative decoding from the CLI (generate, bench): the same ids with every proposer, refusals.
add_test(NAME spec_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_spec_cli.py)
set_tests_properties(spec_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 900)
# Tensor parallelism from the CLI under mpirun (2 and 4 ranks): agreement with one process, bitwise
# determinism and batch invariance, both heads, speculation (docs/parallel.md).
find_program(MPIRUN_EXECUTABLE mpirun)
# Processes started by mpirun run without LeakSanitizer under ASan (scripts/test.sh): OpenMPI
# unloads its components at MPI_Finalize, so their allocations kept to the end show up as leaks from
# an unknown module that no suppression can name. ASan and UBSan still check everything else; our
# own code's leaks are caught by the single-process runs of the same paths.
set(QWEN3_MPI_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
if(MPIRUN_EXECUTABLE AND MPI_CXX_FOUND)
  add_test(NAME tp_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_tp_cli.py)
  set_tests_properties(tp_cli PROPERTIES ENVIRONMENT
                       "QWEN3_BIN=$<TARGET_FILE:qwen3>;${QWEN3_MPI_TEST_ENV}"
                       TIMEOUT 900)
endif()
# The MPI communicator itself, in its own test binary run only under mpirun (3 ranks).
if(MPIRUN_EXECUTABLE AND MPI_CXX_FOUND)
  add_executable(test_parallel_mpi ${CMAKE_CURRENT_SOURCE_DIR}/tests/mpi/communicator_mpi_test.cpp)
  target_link_libraries(test_parallel_mpi PRIVATE qwen3_parallel GTest::gtest GTest::gtest_main)
  add_test(NAME parallel_mpi COMMAND ${MPIRUN_EXECUTABLE} --oversubscribe --bind-to none -n 3 $<TARGET_FILE:test_parallel_mpi>)
  set_tests_properties(parallel_mpi PROPERTIES ENVIRONMENT "${QWEN3_MPI_TEST_ENV}"
                       TIMEOUT 300)
endif()
# Faults of a tensor-parallel job: a rank killed mid-stream (serve), idle, or mid-generate ends the
# whole job within 10 s naming the rank, with no rank left; start-up refusals of MPMD launches whose
# ranks disagree (config.json, tensor index, options, a missing model), a world size that does not
# divide the heads; the same model in another folder is accepted.
if(MPIRUN_EXECUTABLE AND MPI_CXX_FOUND)
  add_test(NAME tp_faults COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_tp_faults.py)
  set_tests_properties(tp_faults PROPERTIES ENVIRONMENT
                       "QWEN3_BIN=$<TARGET_FILE:qwen3>;${QWEN3_MPI_TEST_ENV}"
                       TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
add_test(NAME structured_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_structured_cli.py)
set_tests_properties(structured_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 600)
# --model as a Hugging Face repo id in a Hub cache built by the test (blobs, snapshots, refs).
add_test(NAME hub_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_hub_cli.py)
set_tests_properties(hub_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 300)
# chat and generate: sampling flags and seeds, --system, /save and /load, Ctrl-C on a pty, libedit.
add_test(NAME chat_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_chat_cli.py)
set_tests_properties(chat_cli PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 600)
# The CLI's manners: --version, suggestions, Examples in every --help, --force, progress, --quiet.
add_test(NAME cli_ux COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_cli_ux.py)
set_tests_properties(cli_ux PROPERTIES ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>" TIMEOUT 600)
# cmake --install into a temporary prefix; the installed binary runs from outside the source tree.
add_test(NAME install_tree COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/integration/test_install.py)
set_tests_properties(install_tree PROPERTIES ENVIRONMENT
                     "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_BUILD_DIR=${CMAKE_BINARY_DIR};QWEN3_CMAKE=${CMAKE_COMMAND};QWEN3_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}"
                     TIMEOUT 600)
