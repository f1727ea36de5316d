// Host functions ("intrinsics") the chain provides to contracts, declared with the exact wasm
// signatures of the CDT's C API (libraries/eosiolib/capi/eosio/*.h). Only what payoutengine uses
// is declared: every declaration used becomes a wasm import that `setcode` checks by signature.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern "C" {

// action.h
uint32_t read_action_data(void* msg, uint32_t len);
uint32_t action_data_size();
void require_auth(uint64_t name);
bool has_auth(uint64_t name);
bool is_account(uint64_t name);
void send_inline(char* serialized_action, size_t size);
void require_recipient(uint64_t name);

// system.h
/// Packs {varuint32 struct_version; uint64 code_sequence; checksum256 code_hash; uint8 vm_type;
/// uint8 vm_version} into `data` and returns its size; an account without code has an all-zero
/// hash. Needs the GET_CODE_HASH protocol feature.
uint32_t get_code_hash(uint64_t account, uint32_t struct_version, char* data, uint32_t size);
void eosio_assert(uint32_t test, const char* msg);
void eosio_assert_message(uint32_t test, const char* msg, uint32_t msg_len);

// db.h: primary index
int32_t db_store_i64(uint64_t scope, uint64_t table, uint64_t payer, uint64_t id, const void* data,
                     uint32_t len);
void db_update_i64(int32_t iterator, uint64_t payer, const void* data, uint32_t len);
void db_remove_i64(int32_t iterator);
int32_t db_get_i64(int32_t iterator, void* data, uint32_t len);
int32_t db_next_i64(int32_t iterator, uint64_t* primary);
int32_t db_previous_i64(int32_t iterator, uint64_t* primary);
int32_t db_find_i64(uint64_t code, uint64_t scope, uint64_t table, uint64_t id);
int32_t db_lowerbound_i64(uint64_t code, uint64_t scope, uint64_t table, uint64_t id);
int32_t db_end_i64(uint64_t code, uint64_t scope, uint64_t table);

// db.h: 64-bit secondary index
int32_t db_idx64_store(uint64_t scope, uint64_t table, uint64_t payer, uint64_t id,
                       const uint64_t* secondary);
void db_idx64_update(int32_t iterator, uint64_t payer, const uint64_t* secondary);
void db_idx64_remove(int32_t iterator);
int32_t db_idx64_find_secondary(uint64_t code, uint64_t scope, uint64_t table,
                                const uint64_t* secondary, uint64_t* primary);
int32_t db_idx64_find_primary(uint64_t code, uint64_t scope, uint64_t table, uint64_t* secondary,
                              uint64_t primary);
int32_t db_idx64_lowerbound(uint64_t code, uint64_t scope, uint64_t table, uint64_t* secondary,
                            uint64_t* primary);

// db.h: 128-bit secondary index
int32_t db_idx128_store(uint64_t scope, uint64_t table, uint64_t payer, uint64_t id,
                        const unsigned __int128* secondary);
void db_idx128_update(int32_t iterator, uint64_t payer, const unsigned __int128* secondary);
void db_idx128_remove(int32_t iterator);
int32_t db_idx128_find_secondary(uint64_t code, uint64_t scope, uint64_t table,
                                 const unsigned __int128* secondary, uint64_t* primary);
int32_t db_idx128_find_primary(uint64_t code, uint64_t scope, uint64_t table,
                               unsigned __int128* secondary, uint64_t primary);

// Host-provided memory functions (the host memcpy aborts on overlapping ranges).
void* memcpy(void* dest, const void* src, size_t n);
void* memmove(void* dest, const void* src, size_t n);
void* memset(void* dest, int c, size_t n);
}
