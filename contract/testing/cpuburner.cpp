// A test recipient contract that never returns from a transfer notification: it burns CPU until
// the chain's deadline kills the transaction. The other kind of poison recipient.
#include <eosiolite/types.hpp>

using namespace eosio;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   if (code != receiver && action == "transfer"_n.value) {
      volatile uint64_t spins = 0;
      for (;;) spins = spins + 1;  // volatile: the loop has an effect and cannot be dropped
   }
}
