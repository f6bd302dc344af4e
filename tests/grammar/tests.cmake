# The grammar matcher against an independent Python reference (tests/grammar/gbnf_ref.py), through
# the grammar_check tool. Included from the top-level CMakeLists.txt.
add_executable(grammar_check ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/grammar_check.cpp)
target_link_libraries(grammar_check PRIVATE qwen3_grammar)
add_test(NAME grammar_reference
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/gbnf_ref.py $<TARGET_FILE:grammar_check>)
set_tests_properties(grammar_reference PROPERTIES TIMEOUT 900 LABELS "grammar")
# JSON Schema -> GBNF, checked against ajv through an independent Python GBNF matcher (see
# tests/grammar/README.md). Included from the top-level CMakeLists.txt; CMAKE_CURRENT_SOURCE_DIR
# is the repository root.
add_executable(json_schema_to_gbnf ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/json_schema_to_gbnf.cpp)
target_link_libraries(json_schema_to_gbnf PRIVATE qwen3_grammar)
# The reference matcher's own tests, then the corpus: every instance is accepted by the grammar iff
# ajv says it is valid. Both fail (never skip) when node, ajv or the test suite are missing.
add_test(NAME grammar_ref_matcher
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/schema_ref_matcher.py --self-test)
add_test(NAME grammar_schema_corpus
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/corpus_check.py
                 $<TARGET_FILE:json_schema_to_gbnf>)
set_tests_properties(grammar_ref_matcher grammar_schema_corpus PROPERTIES TIMEOUT 900 LABELS "peer;grammar")
add_test(NAME grammar_numeric_ranges
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/range_check.py $<TARGET_FILE:json_schema_to_gbnf>)
set_tests_properties(grammar_numeric_ranges PROPERTIES TIMEOUT 300 LABELS "grammar")
add_test(NAME grammar_regex_vs_regexp
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tests/grammar/regex_check.py $<TARGET_FILE:json_schema_to_gbnf>)
set_tests_properties(grammar_regex_vs_regexp PROPERTIES TIMEOUT 300 LABELS "peer;grammar")
