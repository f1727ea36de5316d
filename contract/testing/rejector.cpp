// A recipient contract that rejects every incoming token transfer: the "poison recipient" the
// tests use. Built next to payoutengine.wasm as build/contract/rejector.wasm.
#include <eosiolite/types.hpp>

using namespace eosio;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   if (code != receiver && action == "transfer"_n.value) check(false, "rejector refuses transfers");
}
