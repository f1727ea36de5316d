// A token contract whose transfers all fail: deployed over an eosio.token account (its tables
// stay) to stand for a token that breaks after the admin allowed it. Built next to
// payoutengine.wasm as build/contract/brokentoken.wasm.
#include <eosiolite/types.hpp>

using namespace eosio;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   if (code == receiver && action == "transfer"_n.value) check(false, "token transfers are paused");
}
