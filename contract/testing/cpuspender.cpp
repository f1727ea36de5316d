// A test contract that spends the CPU of whoever authorizes its action: `spend(uint64 loops)`
// counts to `loops` and returns, so the transaction succeeds and its CPU is billed to its
// authorizers. The chaos suite (tests/chaos) uses it to exhaust an engine account's CPU for real.
#include <eosiolite/intrinsics.hpp>
#include <eosiolite/types.hpp>

using namespace eosio;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   if (code != receiver || action != "spend"_n.value) return;
   uint64_t loops = 0;
   if (action_data_size() >= sizeof(loops)) read_action_data(&loops, sizeof(loops));
   volatile uint64_t spins = 0;  // volatile: the loop has an effect and cannot be dropped
   for (uint64_t i = 0; i < loops; ++i) spins = spins + 1;
}
