# focalscope_component(NAME <target> DIR <dir> [DEPS ...] [TORCH])
# A static library built from every .cpp in DIR (non-recursive). Torch
# components share one precompiled header so each TU does not re-parse ATen.
function(focalscope_component)
  cmake_parse_arguments(C "TORCH" "NAME;DIR" "DEPS" ${ARGN})
  file(GLOB _src CONFIGURE_DEPENDS ${C_DIR}/*.cpp)
  if(NOT _src)  # a component not written yet: keep the graph valid
    set(_src ${PROJECT_SOURCE_DIR}/engine/pch/pch_anchor.cpp)
  endif()
  add_library(${C_NAME} STATIC ${_src})
  target_include_directories(${C_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${C_NAME} PUBLIC ${C_DEPS})
  if(C_TORCH)
    target_link_libraries(${C_NAME} PUBLIC focalscope_torch)
    if(FOCALSCOPE_PCH)
      if(TARGET focalscope_pch AND NOT C_NAME STREQUAL "focalscope_pch")
        target_precompile_headers(${C_NAME} REUSE_FROM focalscope_pch)
      endif()
    endif()
  endif()
endfunction()

# Executables reuse the libraries' precompiled header. GCC rejects a PCH built with -fPIC for a TU compiled
# with -fPIE, so such executables compile with -fPIC too (still linked as PIE).
function(focalscope_reuse_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${target} PRIVATE -fPIC)
  target_precompile_headers(${target} REUSE_FROM focalscope_pch)
endfunction()
