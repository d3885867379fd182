# Every target of ours links vigil_warnings: one place for the warning policy.
add_library(vigil_warnings INTERFACE)
target_compile_options(vigil_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  -Wno-sign-conversion -Wformat=2 -Wformat-security -Wnull-dereference -Wold-style-cast)
# GCC 12 reports false -Wrestrict positives inside std::string operator+ at -O2/-O3
# (GCC bug 105329); they would break every optimised -Werror build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(vigil_warnings INTERFACE -Wno-restrict)
endif()
if(VIGIL_WERROR)
  target_compile_options(vigil_warnings INTERFACE -Werror)
endif()
# Hardening that costs nothing measurable: fortified libc calls and a non-executable stack.
target_compile_definitions(vigil_warnings INTERFACE $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_compile_options(vigil_warnings INTERFACE -fstack-protector-strong)
