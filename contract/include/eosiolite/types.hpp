// Core value types with the CDT's names and binary layouts: name, symbol_code, symbol, asset,
// and a fixed-capacity string (no heap) for memos.
#pragma once

#include <eosiolite/intrinsics.hpp>

namespace eosio {

/// Aborts the action with `msg` (a NUL-terminated literal) when `pred` is false.
inline void check(bool pred, const char* msg) {
   if (!pred) eosio_assert(0, msg);
}

/// Reached only for a bad character in a name; not constexpr, so a bad `_n` literal used in a
/// constant expression fails to compile.
inline uint64_t invalid_name_character() {
   eosio_assert(0, "invalid character in name");
   return 0;
}

/// An account, action or table name: up to 12 characters of [.1-5a-z], base-32 in a uint64.
struct name {
   uint64_t value = 0;

   constexpr name() = default;
   constexpr explicit name(uint64_t v) : value(v) {}

   static constexpr uint64_t char_to_value(char c) {
      if (c == '.') return 0;
      if (c >= '1' && c <= '5') return uint64_t(c - '1') + 1;
      if (c >= 'a' && c <= 'z') return uint64_t(c - 'a') + 6;
      return 64;  // invalid: makes a constant expression fail below
   }

   static constexpr uint64_t from_string(const char* s, size_t len) {
      uint64_t v = 0;
      size_t i = 0;
      for (; i < len && i < 12; ++i) {
         uint64_t c = char_to_value(s[i]);
         if (c > 31) return invalid_name_character();
         v |= (c & 0x1f) << (64 - 5 * (i + 1));
      }
      if (i == 12 && len > 12) v |= char_to_value(s[12]) & 0x0f;
      return v;
   }

   constexpr bool operator==(const name& o) const { return value == o.value; }
   constexpr bool operator!=(const name& o) const { return value != o.value; }
   constexpr bool operator<(const name& o) const { return value < o.value; }
   constexpr explicit operator bool() const { return value != 0; }
};

inline namespace literals {
/// `"payoutengine"_n`: a name literal, checked at compile time when used in a constant.
constexpr name operator""_n(const char* s, size_t len) { return name(name::from_string(s, len)); }
}  // namespace literals

/// Up to 7 upper-case letters, packed little-endian into a uint64.
struct symbol_code {
   uint64_t value = 0;

   constexpr bool is_valid() const {
      uint64_t v = value;
      if (v == 0) return false;
      for (int i = 0; i < 7; ++i) {
         char c = char(v & 0xff);
         if (!('A' <= c && c <= 'Z')) return false;
         v >>= 8;
         if (v == 0) return true;
      }
      return (v & 0xff) == 0;  // an 8th byte is never allowed
   }
   constexpr bool operator==(const symbol_code& o) const { return value == o.value; }
   constexpr bool operator!=(const symbol_code& o) const { return value != o.value; }
};

/// Symbol code and precision: the low byte is the precision, the rest the code.
struct symbol {
   uint64_t value = 0;

   constexpr uint8_t precision() const { return uint8_t(value & 0xff); }
   constexpr symbol_code code() const { return symbol_code{value >> 8}; }
   constexpr bool is_valid() const { return precision() <= 18 && code().is_valid(); }
   constexpr bool operator==(const symbol& o) const { return value == o.value; }
   constexpr bool operator!=(const symbol& o) const { return value != o.value; }
};

/// An amount in a token's smallest unit and its symbol.
struct asset {
   /// Largest amount an asset may hold (the chain's and eosio.token's limit).
   static constexpr int64_t max_amount = (int64_t(1) << 62) - 1;

   int64_t amount = 0;
   symbol sym;

   constexpr bool is_amount_within_range() const {
      return -max_amount <= amount && amount <= max_amount;
   }
   constexpr bool is_valid() const { return is_amount_within_range() && sym.is_valid(); }
};

/// A string of at most N bytes stored inline (memos are capped at 256 bytes).
template <uint32_t N>
struct fixed_string {
   uint32_t size = 0;
   char data[N];

   static constexpr uint32_t capacity = N;
   bool empty() const { return size == 0; }
   bool operator==(const fixed_string& o) const {
      if (size != o.size) return false;
      for (uint32_t i = 0; i < size; ++i)
         if (data[i] != o.data[i]) return false;
      return true;
   }
};

}  // namespace eosio
