# VIGIL_FUZZ=ON: libFuzzer targets in fuzz/ (scripts/fuzz.sh). Needs clang; everything they
# link is instrumented for coverage and built with ASan + UBSan, so a bad read anywhere in a
# parser is a crash the fuzzer reports. The normal GCC build never sees these flags.
option(VIGIL_FUZZ "Build the libFuzzer targets in fuzz/ (needs CC=clang CXX=clang++)" OFF)
if(VIGIL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VIGIL_FUZZ needs clang: configure with CC=clang CXX=clang++ (scripts/fuzz.sh does)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
