// Reading the current action's data and sending inline actions.
#pragma once

#include <eosiolite/datastream.hpp>

extern "C" {
// Provided by the linker: the first address past the data and the stack.
extern unsigned char __heap_base;
}

namespace eosio {

/// Bytes of linear memory past the stack, grown on demand. Memory is reset before every action,
/// so this is the only "allocation" the contract ever does: one buffer for the action data.
inline char* scratch_memory(uint32_t size) {
   uintptr_t base = reinterpret_cast<uintptr_t>(&__heap_base);
   uintptr_t needed_end = base + size;
   uintptr_t have_end = __builtin_wasm_memory_size(0) * 65536u;
   if (needed_end > have_end) {
      uintptr_t pages = (needed_end - have_end + 65535u) / 65536u;
      check(__builtin_wasm_memory_grow(0, pages) != size_t(-1), "out of memory");
   }
   return reinterpret_cast<char*>(base);
}

/// A datastream over the current action's data.
inline datastream action_datastream() {
   uint32_t size = action_data_size();
   char* buf = scratch_memory(size);
   if (size > 0) read_action_data(buf, size);
   return datastream(buf, size);
}

struct permission_level {
   name actor;
   name permission;
};

/// Sends `account::action` as an inline action authorized by `auth`, with `data` already packed.
inline void send_inline_action(permission_level auth, name account, name action,
                               const char* data, uint32_t data_size) {
   // account, name, 1 authorization, varuint32 size, data
   char buf[8 + 8 + 1 + 16 + 5 + 512];
   check(data_size <= 512, "inline action data is too large");
   datastream ds(buf, sizeof(buf));
   ds << account << action << varuint32{1} << auth.actor << auth.permission
      << varuint32{data_size};
   ds.write(data, data_size);
   send_inline(buf, ds.tellp());
}

}  // namespace eosio
