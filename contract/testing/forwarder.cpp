// A test contract that forwards every transfer notification it receives to `payoutengine`,
// as a malicious or careless recipient could: the engine must ignore such notifications.
#include <eosiolite/types.hpp>

using namespace eosio;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   if (code != receiver && action == "transfer"_n.value) require_recipient("payoutengine"_n.value);
}
