# Post-build check: the chain must accept what we built. Fails the build when the wasm
#  - exports no `apply`,
#  - imports from any module other than `env`,
#  - uses an opcode outside the MVP set the chain's wasm validator accepts.
execute_process(COMMAND ${WASM_OBJDUMP} -x ${WASM} OUTPUT_VARIABLE sections RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "wasm-objdump could not read ${WASM}")
endif()
if(NOT sections MATCHES "-> \"apply\"")
  message(FATAL_ERROR "${WASM} exports no apply function")
endif()
string(REGEX MATCHALL "<- [A-Za-z0-9_]+\\.[A-Za-z0-9_]+" imports "${sections}")
foreach(imp IN LISTS imports)
  if(NOT imp MATCHES "^<- env\\.")
    message(FATAL_ERROR "${WASM} imports outside module env: ${imp}")
  endif()
endforeach()
execute_process(COMMAND ${WASM_OBJDUMP} -d ${WASM} OUTPUT_VARIABLE code RESULT_VARIABLE rc)
# Post-MVP opcodes (sign-extension, saturating truncation, bulk memory, SIMD, reference types,
# multi-value block types, atomics).
foreach(op i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s
           trunc_sat memory.copy memory.fill memory.init data.drop table.get table.set
           table.grow table.size table.fill v128 ref.null ref.func ref.is_null
           atomic return_call)
  string(FIND "${code}" "${op}" pos)
  if(NOT pos EQUAL -1)
    message(FATAL_ERROR "${WASM} uses the opcode ${op}, which the chain rejects")
  endif()
endforeach()
