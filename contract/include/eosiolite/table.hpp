// Typed wrappers over the chain's table API.
//
// `table<TableName, Row>` is a primary-key table in (code, scope). A Row provides
//   uint64_t primary_key() const;
//   static constexpr uint32_t max_packed_size;   // bytes, for the stack buffer
//   operator<<(datastream&, const Row&) and operator>>(datastream&, Row&).
// Iterators are the chain's: >= 0 is a row, -1 means the table does not exist, < -1 is end.
//
// `secondary_index<IndexTableName, Key>` wraps an idx64 (Key = uint64_t) or idx128
// (Key = unsigned __int128) index. As in the CDT's multi_index, the first secondary index of a
// table shares the table's name (low 4 bits = index number 0); the caller keeps it in step with
// the primary rows.
#pragma once

#include <eosiolite/datastream.hpp>

namespace eosio {

template <uint64_t TableName, typename Row>
class table {
 public:
   table(name code, uint64_t scope) : code_(code), scope_(scope) {}

   int32_t find(uint64_t pk) const { return db_find_i64(code_.value, scope_, TableName, pk); }
   int32_t lower_bound(uint64_t pk) const {
      return db_lowerbound_i64(code_.value, scope_, TableName, pk);
   }
   int32_t end() const { return db_end_i64(code_.value, scope_, TableName); }
   int32_t next(int32_t itr) const {
      uint64_t pk = 0;
      return db_next_i64(itr, &pk);
   }
   /// The primary key of the last row, or -1 when the table is empty.
   int32_t last(uint64_t* pk) const {
      int32_t e = end();
      if (e == -1) return -1;
      return db_previous_i64(e, pk);
   }
   bool exists(uint64_t pk) const { return find(pk) >= 0; }

   Row load(int32_t itr) const {
      char buf[Row::max_packed_size];
      int32_t size = db_get_i64(itr, buf, sizeof(buf));
      check(size >= 0 && uint32_t(size) <= sizeof(buf), "table row is larger than expected");
      datastream ds(buf, uint32_t(size));
      Row r;
      ds >> r;
      return r;
   }
   /// Loads the row with primary key `pk` into `out`; false when there is none.
   bool get(uint64_t pk, Row& out) const {
      int32_t itr = find(pk);
      if (itr < 0) return false;
      out = load(itr);
      return true;
   }

   int32_t emplace(name payer, const Row& r) {
      char buf[Row::max_packed_size];
      datastream ds(buf, sizeof(buf));
      ds << r;
      return db_store_i64(scope_, TableName, payer.value, r.primary_key(), buf, ds.tellp());
   }
   /// Rewrites a row; `payer` is billed for any growth (the primary key must not change).
   void modify(int32_t itr, name payer, const Row& r) {
      char buf[Row::max_packed_size];
      datastream ds(buf, sizeof(buf));
      ds << r;
      db_update_i64(itr, payer.value, buf, ds.tellp());
   }
   void erase(int32_t itr) { db_remove_i64(itr); }

 private:
   name code_;
   uint64_t scope_;
};

template <typename Key>
struct secondary_traits;

template <>
struct secondary_traits<uint64_t> {
   static int32_t store(uint64_t s, uint64_t t, uint64_t p, uint64_t id, const uint64_t* k) {
      return db_idx64_store(s, t, p, id, k);
   }
   static void remove(int32_t itr) { db_idx64_remove(itr); }
   static int32_t find_secondary(uint64_t c, uint64_t s, uint64_t t, const uint64_t* k,
                                 uint64_t* pk) {
      return db_idx64_find_secondary(c, s, t, k, pk);
   }
   static int32_t find_primary(uint64_t c, uint64_t s, uint64_t t, uint64_t* k, uint64_t pk) {
      return db_idx64_find_primary(c, s, t, k, pk);
   }
};

template <>
struct secondary_traits<unsigned __int128> {
   using key = unsigned __int128;
   static int32_t store(uint64_t s, uint64_t t, uint64_t p, uint64_t id, const key* k) {
      return db_idx128_store(s, t, p, id, k);
   }
   static void remove(int32_t itr) { db_idx128_remove(itr); }
   static int32_t find_secondary(uint64_t c, uint64_t s, uint64_t t, const key* k, uint64_t* pk) {
      return db_idx128_find_secondary(c, s, t, k, pk);
   }
   static int32_t find_primary(uint64_t c, uint64_t s, uint64_t t, key* k, uint64_t pk) {
      return db_idx128_find_primary(c, s, t, k, pk);
   }
};

template <uint64_t IndexTableName, typename Key>
class secondary_index {
   using traits = secondary_traits<Key>;

 public:
   secondary_index(name code, uint64_t scope) : code_(code), scope_(scope) {}

   /// The primary key of a row with secondary key `k`; false when none.
   bool find(const Key& k, uint64_t& pk) const {
      return traits::find_secondary(code_.value, scope_, IndexTableName, &k, &pk) >= 0;
   }
   void store(name payer, uint64_t pk, const Key& k) {
      traits::store(scope_, IndexTableName, payer.value, pk, &k);
   }
   void remove(uint64_t pk) {
      Key k{};
      int32_t itr = traits::find_primary(code_.value, scope_, IndexTableName, &k, pk);
      if (itr >= 0) traits::remove(itr);
   }

 private:
   name code_;
   uint64_t scope_;
};

/// A 64-bit secondary index used as a *state flag* on each row of a table: every row has exactly
/// one entry, whose key is either the row's own primary key ("on") or 0 ("off"). Rows that are on
/// are walked in primary-key order; rows that are off are never visited. Switching costs no RAM
/// (the entry is rewritten in place with the same payer), so anyone may do it.
template <uint64_t IndexTableName>
class flag_index {
 public:
   flag_index(name code, uint64_t scope) : code_(code), scope_(scope) {}

   void store(name payer, uint64_t pk, bool on) {
      uint64_t k = on ? pk : 0;
      db_idx64_store(scope_, IndexTableName, payer.value, pk, &k);
   }
   bool is_on(uint64_t pk) const {
      uint64_t k = 0;
      int32_t itr = db_idx64_find_primary(code_.value, scope_, IndexTableName, &k, pk);
      return itr >= 0 && k != 0;
   }
   /// Sets the flag; returns true when it changed.
   bool set(uint64_t pk, bool on) {
      uint64_t k = 0;
      int32_t itr = db_idx64_find_primary(code_.value, scope_, IndexTableName, &k, pk);
      if (itr < 0 || (k != 0) == on) return false;
      k = on ? pk : 0;
      db_idx64_update(itr, 0, &k);  // payer 0: keep the entry's payer (no RAM moves)
      return true;
   }
   void remove(uint64_t pk) {
      uint64_t k = 0;
      int32_t itr = db_idx64_find_primary(code_.value, scope_, IndexTableName, &k, pk);
      if (itr >= 0) db_idx64_remove(itr);
   }
   /// The first row that is on with primary key >= `from`, wrapping round to the first row that
   /// is on; false when none is.
   bool first_on_from(uint64_t from, uint64_t& pk) const {
      if (from != 0 && lower_bound(from, pk)) return true;
      return lower_bound(1, pk);
   }
   bool any_on() const {
      uint64_t pk = 0;
      return lower_bound(1, pk);
   }

 private:
   bool lower_bound(uint64_t from, uint64_t& pk) const {
      uint64_t k = from;
      return db_idx64_lowerbound(code_.value, scope_, IndexTableName, &k, &pk) >= 0;
   }
   name code_;
   uint64_t scope_;
};

}  // namespace eosio
