# Read by ctest (TEST_INCLUDE_FILES of tests/, see tests/CMakeLists.txt) before
# any test of tests/ and its subdirectories is defined. With XPMEM_KERNEL set to
# a kernel that runs slower than the default under TCG (VM_SLOWDOWN in
# tests/vm/lib.sh), it multiplies the TIMEOUT of every vm and cluster test by
# that factor, so `XPMEM_KERNEL=debug ctest -L vm` needs no per-test edits.
# A TIMEOUT property cannot be overridden from the ctest command line
# (--timeout only applies to tests without one), hence this wrapper around the
# set_tests_properties calls of the generated CTestTestfile.cmake files, which
# set every property of a test, LABELS and TIMEOUT included, in one call.
cmake_policy(VERSION 3.18)

set(_xpmem_slowdown 1)
if(DEFINED ENV{XPMEM_KERNEL})
  file(STRINGS ${CMAKE_CURRENT_LIST_DIR}/lib.sh _xpmem_line REGEX "^VM_SLOWDOWN=")
  string(REGEX MATCH "[\" ]$ENV{XPMEM_KERNEL}=([0-9]+)" _xpmem_m "${_xpmem_line}")
  if(_xpmem_m)
    set(_xpmem_slowdown ${CMAKE_MATCH_1})
  endif()
endif()

if(NOT _xpmem_slowdown EQUAL 1)
  # Arguments are taken one by one (ARGVn), not as ${ARGN}: property values
  # such as LABELS are lists and must stay single arguments.
  function(set_tests_properties)
    set(names)
    set(i 0)
    while(i LESS ARGC AND NOT "${ARGV${i}}" STREQUAL "PROPERTIES")
      list(APPEND names "${ARGV${i}}")
      math(EXPR i "${i} + 1")
    endwhile()
    math(EXPR first "${i} + 1")
    set(labels)
    set(i ${first})
    while(i LESS ARGC)
      math(EXPR j "${i} + 1")
      if("${ARGV${i}}" STREQUAL "LABELS")
        set(labels "${ARGV${j}}")
      endif()
      math(EXPR i "${i} + 2")
    endwhile()
    set(i ${first})
    while(i LESS ARGC)
      math(EXPR j "${i} + 1")
      set(value "${ARGV${j}}")
      if("${ARGV${i}}" STREQUAL "TIMEOUT" AND value MATCHES "^[0-9]+$"
         AND ("vm" IN_LIST labels OR "cluster" IN_LIST labels))
        math(EXPR value "${value} * ${_xpmem_slowdown}")
      endif()
      foreach(name IN LISTS names)
        _set_tests_properties("${name}" PROPERTIES "${ARGV${i}}" "${value}")
      endforeach()
      math(EXPR i "${i} + 2")
    endwhile()
  endfunction()
endif()
