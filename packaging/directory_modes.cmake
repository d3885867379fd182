# CPACK_PRE_BUILD_SCRIPTS hook: every directory of the staged package 0755, whatever the
# umask of whoever runs cpack. CPack creates the parent directories of installed files
# (./usr/, ./etc/vigil/ …) with the caller's umask and ignores
# CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS for them (CMake 3.25), so under umask 077
# the package would install /etc/vigil and /usr/share/doc/vigil as 0700.
if(NOT IS_DIRECTORY "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
  message(FATAL_ERROR "no staging directory '${CPACK_TEMPORARY_INSTALL_DIRECTORY}'")
endif()
file(GLOB_RECURSE entries LIST_DIRECTORIES true "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*")
foreach(entry IN LISTS entries)
  if(IS_DIRECTORY "${entry}" AND NOT IS_SYMLINK "${entry}")
    file(CHMOD "${entry}" DIRECTORY_PERMISSIONS
         OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endif()
endforeach()
