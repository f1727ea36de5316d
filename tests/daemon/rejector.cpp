// A recipient contract that rejects every incoming token transfer notification: the test
// "poison recipient". Built by tests/daemon/conftest.py with stock clang for wasm32.
typedef unsigned long long u64;
typedef unsigned int u32;

extern "C" void eosio_assert(u32 test, const char* msg);

static constexpr u64 name_value(const char* s) {
  u64 v = 0;
  int i = 0;
  for (; i < 12 && s[i]; ++i) {
    char c = s[i];
    u64 sym = c == '.' ? 0 : (c >= '1' && c <= '5') ? u64(c - '1' + 1) : u64(c - 'a' + 6);
    v |= (sym & 0x1f) << (64 - 5 * (i + 1));
  }
  return v;
}

extern "C" void apply(u64 receiver, u64 code, u64 action) {
  if (action == name_value("transfer") && code != receiver) {
    eosio_assert(0, "rejector refuses transfers");
  }
}
