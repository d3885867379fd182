# cmake -DIN=FILE -DOUT=FILE.gz -P gzip.cmake: gzip -9n without a shell redirect.
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND gzip -9nc INPUT_FILE "${IN}" OUTPUT_FILE "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "gzip ${IN}: ${rc}")
endif()
