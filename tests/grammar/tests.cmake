# The grammar matcher against an independent Python reference (tests/grammar/gbnf_ref.py), through
# the grammar_check tool. Included from the top-level CMakeLists.txt.
add_executable(grammar_check ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/grammar_check.cpp)
target_link_libraries(grammar_check PRIVATE qwen3_grammar)
add_test(NAME grammar_reference
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/gbnf_ref.py $<TARGET_FILE:grammar_check>)
set_tests_properties(grammar_reference PROPERTIES TIMEOUT 900 LABELS "grammar")
