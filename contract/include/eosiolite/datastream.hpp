// Binary (de)serialization in the chain's format: little-endian integers, varuint32 lengths,
// names/symbols as uint64, assets as (int64, symbol), strings as length + bytes.
// A datastream reads or writes over a caller-owned buffer; nothing is allocated.
#pragma once

#include <eosiolite/types.hpp>

namespace eosio {

class datastream {
 public:
   datastream(char* begin, uint32_t size) : pos_(begin), end_(begin + size), begin_(begin) {}

   void read(void* out, uint32_t n) {
      check(uint32_t(end_ - pos_) >= n, "read past the end of the data");
      memcpy(out, pos_, n);
      pos_ += n;
   }
   void write(const void* in, uint32_t n) {
      check(uint32_t(end_ - pos_) >= n, "write past the end of the buffer");
      memcpy(pos_, in, n);
      pos_ += n;
   }
   /// Returns a pointer to the next n bytes and skips them.
   const char* skip(uint32_t n) {
      check(uint32_t(end_ - pos_) >= n, "read past the end of the data");
      const char* p = pos_;
      pos_ += n;
      return p;
   }
   uint32_t tellp() const { return uint32_t(pos_ - begin_); }
   uint32_t remaining() const { return uint32_t(end_ - pos_); }
   char* begin() const { return begin_; }

 private:
   char* pos_;
   char* end_;
   char* begin_;
};

// Fixed-size integers and the value types built on them.
template <typename T>
inline void pack_raw(datastream& ds, const T& v) { ds.write(&v, sizeof(T)); }
template <typename T>
inline void unpack_raw(datastream& ds, T& v) { ds.read(&v, sizeof(T)); }

inline datastream& operator<<(datastream& ds, uint8_t v) { pack_raw(ds, v); return ds; }
inline datastream& operator<<(datastream& ds, uint16_t v) { pack_raw(ds, v); return ds; }
inline datastream& operator<<(datastream& ds, uint64_t v) { pack_raw(ds, v); return ds; }
inline datastream& operator<<(datastream& ds, int64_t v) { pack_raw(ds, v); return ds; }
inline datastream& operator<<(datastream& ds, name v) { pack_raw(ds, v.value); return ds; }
inline datastream& operator<<(datastream& ds, symbol v) { pack_raw(ds, v.value); return ds; }
inline datastream& operator<<(datastream& ds, const asset& v) { return ds << v.amount << v.sym; }

inline datastream& operator>>(datastream& ds, uint8_t& v) { unpack_raw(ds, v); return ds; }
inline datastream& operator>>(datastream& ds, uint16_t& v) { unpack_raw(ds, v); return ds; }
inline datastream& operator>>(datastream& ds, uint64_t& v) { unpack_raw(ds, v); return ds; }
inline datastream& operator>>(datastream& ds, int64_t& v) { unpack_raw(ds, v); return ds; }
inline datastream& operator>>(datastream& ds, name& v) { unpack_raw(ds, v.value); return ds; }
inline datastream& operator>>(datastream& ds, symbol& v) { unpack_raw(ds, v.value); return ds; }
inline datastream& operator>>(datastream& ds, asset& v) { return ds >> v.amount >> v.sym; }

/// varuint32: 7 bits per byte, high bit set on all but the last byte.
struct varuint32 {
   uint32_t value = 0;
};
inline datastream& operator<<(datastream& ds, varuint32 v) {
   uint64_t val = v.value;
   do {
      uint8_t b = uint8_t(val & 0x7f);
      val >>= 7;
      b |= uint8_t((val > 0) << 7);
      ds << b;
   } while (val);
   return ds;
}
inline datastream& operator>>(datastream& ds, varuint32& v) {
   uint64_t val = 0;
   uint8_t b = 0;
   uint8_t by = 0;
   do {
      check(by < 35, "varuint32 is too long");
      ds >> b;
      val |= uint64_t(b & 0x7f) << by;
      by += 7;
   } while (b & 0x80);
   check(val <= 0xffffffffu, "varuint32 is out of range");
   v.value = uint32_t(val);
   return ds;
}

/// A view of bytes inside a buffer owned by someone else (action data, a row buffer).
struct string_view {
   const char* data = nullptr;
   uint32_t size = 0;
};
inline datastream& operator>>(datastream& ds, string_view& v) {
   varuint32 len;
   ds >> len;
   v.size = len.value;
   v.data = ds.skip(len.value);
   return ds;
}
inline datastream& operator<<(datastream& ds, string_view v) {
   ds << varuint32{v.size};
   ds.write(v.data, v.size);
   return ds;
}

template <uint32_t N>
inline datastream& operator<<(datastream& ds, const fixed_string<N>& s) {
   return ds << string_view{s.data, s.size};
}
/// Unpacks into a fixed_string; `too_long` is the check message when it does not fit.
template <uint32_t N>
inline void unpack_string(datastream& ds, fixed_string<N>& s, const char* too_long) {
   string_view v;
   ds >> v;
   check(v.size <= N, too_long);
   s.size = v.size;
   memcpy(s.data, v.data, v.size);
}
template <uint32_t N>
inline datastream& operator>>(datastream& ds, fixed_string<N>& s) {
   unpack_string(ds, s, "string is too long");
   return ds;
}

}  // namespace eosio
