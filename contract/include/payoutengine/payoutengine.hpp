// payoutengine: booked payouts on an Antelope chain, paid exactly once.
//
// A payer creates schedules (one token and a default memo each), deposits tokens by an ordinary
// transfer (a fee goes to the fee account), and books each recipient's ever-growing lifetime
// total. The contract pays only the difference between booked_total and paid_total: either
// automatically, round-robin across schedules, to recipients the admin approved (`runpayouts`),
// or on request by anyone (`claim`). Since paid_total is updated in the same action as the
// transfer, a payment can never happen twice, whatever the off-chain programs do.
//
// The contract is shared by every payer: payers, token contracts and recipients are treated as
// possibly hostile. Only tokens the admin allows can be used; automatic payments go only to
// approved accounts that hold no code at that moment; unpayable dues are parked and cost
// `runpayouts` nothing until an event (a booking, `wake`) shows them payable again.
//
// RAM: the payer pays for every row its bookings create, the admin for its `tokens` rows; the
// contract's own RAM holds the settings row and its own balance row per allowed token (opened by
// `allowtoken`). The contract never opens other accounts' balance rows: automatic payments park
// recipients that have none (they stay due), and `claim` and `withdraw` ask for one first.
//
// Every check() message is listed in `msg` below; tests assert them exactly, so they are API.
#pragma once

#include <eosiolite/action.hpp>
#include <eosiolite/table.hpp>

namespace payoutengine {

using namespace eosio;

/// Memos (schedule and per-recipient) are capped at 256 bytes, as token transfers are.
static constexpr uint32_t max_memo_bytes = 256;
using memo_string = fixed_string<max_memo_bytes>;

/// Passed as the payer to modify(): keep billing whoever pays for the row now (the chain treats
/// an empty payer that way), so rows stay on the payer's RAM whoever touches them.
static constexpr name same_payer{};

/// Largest fee: the published 0.5 % (5 permille), so payers can trust what a deposit costs.
static constexpr uint16_t max_fee_permille = 5;

/// `runpayouts` parks no more than this many unpayable dues or schedules per call: a bound on
/// CPU. Parked entries are not looked at again until an event can make them payable, so every
/// unit of this budget is progress and idle entries cannot throttle later calls.
static constexpr uint32_t max_parks_per_call = 128;

/// Packed size of get_code_hash's version-0 result: varuint32 (1 byte for 0), code_sequence,
/// code_hash, vm_type, vm_version.
static constexpr uint32_t code_hash_result_size = 1 + 8 + 32 + 1 + 1;

namespace msg {
constexpr const char* not_initialized = "contract is not initialized";
constexpr const char* unknown_action = "unknown action";
constexpr const char* admin_not_account = "admin account does not exist";
constexpr const char* fee_too_high = "fee must be at most 5 permille";
constexpr const char* fee_account_missing = "fee account does not exist";
constexpr const char* fee_account_is_contract = "fee account cannot be the contract";
constexpr const char* fee_account_no_balance = "fee account has no balance row for this token";
constexpr const char* token_not_allowed = "token is not allowed";
constexpr const char* token_already_allowed = "token is already allowed";
constexpr const char* token_suspended = "token is suspended";
constexpr const char* deposit_too_small = "deposit too small to leave a credit after the fee";
constexpr const char* payer_no_balance_row = "payer has no balance row for this token";
constexpr const char* empty_schedule_name = "schedule name is empty";
constexpr const char* schedule_exists = "schedule already exists";
constexpr const char* unknown_schedule = "unknown schedule";
constexpr const char* invalid_symbol = "invalid symbol";
constexpr const char* token_contract_missing = "token contract does not exist";
constexpr const char* token_missing = "token does not exist";
constexpr const char* precision_mismatch = "symbol precision mismatch";
constexpr const char* memo_too_long = "memo has more than 256 bytes";
constexpr const char* no_schedule_for_token = "sender has no schedule in this token";
constexpr const char* deposit_not_positive = "deposit must be positive";
constexpr const char* deposit_overflow = "deposit overflow";
constexpr const char* no_records = "no records";
constexpr const char* symbol_mismatch = "symbol does not match the schedule";
constexpr const char* total_out_of_range = "new total out of range";
constexpr const char* recipient_missing = "recipient account does not exist";
constexpr const char* recipient_is_contract = "cannot book the payout contract itself";
constexpr const char* no_total_raised = "no total was raised";
constexpr const char* exceeds_free_funds = "booking exceeds free funds";
constexpr const char* booking_overflow = "booking overflow";
constexpr const char* quantity_not_positive = "quantity must be positive";
constexpr const char* no_funds_in_token = "no funds in this token";
constexpr const char* withdraw_exceeds_free = "withdrawal exceeds free funds";
constexpr const char* nothing_due = "nothing due";
constexpr const char* no_balance_row = "recipient has no balance row for this token";
constexpr const char* no_accounts = "no accounts given";
constexpr const char* unknown_recipient = "unknown recipient account";
constexpr const char* count_not_positive = "count must be positive";
constexpr const char* nothing_to_pay = "nothing to pay";
}  // namespace msg

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// settings, scope = contract, one row (key 0). Contract RAM; never grows.
struct settings_row {
   name admin;
   name feeacc;
   uint16_t fee_permille = 0;
   uint64_t revision = 0;   ///< +1 on every state change: daemons poll this cheaply
   name rr_cursor;          ///< the schedule `runpayouts` served last

   uint64_t primary_key() const { return 0; }
   static constexpr uint32_t max_packed_size = 8 + 8 + 2 + 8 + 8;
};

/// schedules, scope = contract, key = schedule name. Payer's RAM.
struct schedule_row {
   name schedule_name;
   name payer;
   name tkcontract;
   asset currency;   ///< symbol and precision of every payment (amount 0)
   memo_string memo; ///< default transfer memo, immutable

   uint64_t primary_key() const { return schedule_name.value; }
   static constexpr uint32_t max_packed_size = 8 + 8 + 8 + 16 + 2 + max_memo_bytes;
};

/// funds, scope = payer. What the contract holds for (payer, token). Payer's RAM.
/// Free funds = deposited - dues. Secondary index `token` = (tkcontract << 64) | symbol.
struct funds_row {
   uint64_t id = 0;
   name tkcontract;
   asset currency;   ///< amount 0: identifies the token
   asset dues;       ///< booked to recipients, not yet paid
   asset deposited;  ///< held by the contract for this payer (dues included)

   uint64_t primary_key() const { return id; }
   unsigned __int128 by_token() const { return token_key(tkcontract, currency.sym); }
   static unsigned __int128 token_key(name tkcontract, symbol sym) {
      return (static_cast<unsigned __int128>(tkcontract.value) << 64) | sym.value;
   }
   static constexpr uint32_t max_packed_size = 8 + 8 + 16 * 3;
};

/// recipients, scope = schedule name, key = account. Payer's RAM (136 bytes a row).
struct recipient_row {
   name account;
   uint64_t booked_total = 0;  ///< lifetime total owed, smallest unit; only grows
   uint64_t paid_total = 0;    ///< lifetime total paid; never above booked_total

   uint64_t primary_key() const { return account.value; }
   static constexpr uint32_t max_packed_size = 24;
};

/// dues, scope = schedule name, key = account: one row per open due, erased when paid (the
/// payer gets the RAM back). `memo` is the recipient's memo from `bookm`, empty for `book`.
struct due_row {
   name account;
   memo_string memo;

   uint64_t primary_key() const { return account.value; }
   static constexpr uint32_t max_packed_size = 8 + 2 + max_memo_bytes;
};

/// dues also carry a flag index `ready` (idx64, index 0): on for a due believed payable, off for
/// a parked one (unapproved, no balance row, code). `runpayouts` walks only ready dues.

/// active, scope = contract, key = schedule name: schedules with at least one dues row.
/// `cursor`: where the next `runpayouts` visit of this schedule starts in its ready dues.
/// A flag index `ring` (idx64, index 0) is on while the schedule may have a payable due and its
/// token is allowed: `runpayouts` goes round those only.
struct active_row {
   name schedule_name;
   name cursor;

   uint64_t primary_key() const { return schedule_name.value; }
   static constexpr uint32_t max_packed_size = 16;
};

/// approvals, scope = contract, key = account: created (unapproved) at an account's first
/// booking, billed to that payer; the admin approves accounts without contracts.
/// A flag index `pending` (idx64, index 0), stored with the row on the same payer's RAM, is on
/// while the account is not approved: the daemon pages only those (in account order) to find
/// accounts to approve, however many are approved.
struct approval_row {
   name account;
   uint8_t approved = 0;

   uint64_t primary_key() const { return account.value; }
   static constexpr uint32_t max_packed_size = 9;
};

/// tokens, scope = contract, key = id: the (token contract, symbol) pairs the admin allows.
/// Secondary index `token` = (tkcontract << 64) | symbol, as in funds. Admin's RAM.
struct token_row {
   uint64_t id = 0;
   name tkcontract;
   symbol currency;

   uint64_t primary_key() const { return id; }
   static constexpr uint32_t max_packed_size = 8 + 8 + 8;
};

/// eosio.token's `stat` row (scope = symbol code) and `accounts` row (scope = owner).
struct token_stat_row {
   asset supply;
   asset max_supply;
   name issuer;
   static constexpr uint32_t max_packed_size = 40;
};

// Binary layouts (the ABI's structs, field for field).
inline datastream& operator<<(datastream& ds, const settings_row& r) {
   return ds << r.admin << r.feeacc << r.fee_permille << r.revision << r.rr_cursor;
}
inline datastream& operator>>(datastream& ds, settings_row& r) {
   return ds >> r.admin >> r.feeacc >> r.fee_permille >> r.revision >> r.rr_cursor;
}
inline datastream& operator<<(datastream& ds, const schedule_row& r) {
   return ds << r.schedule_name << r.payer << r.tkcontract << r.currency << r.memo;
}
inline datastream& operator>>(datastream& ds, schedule_row& r) {
   return ds >> r.schedule_name >> r.payer >> r.tkcontract >> r.currency >> r.memo;
}
inline datastream& operator<<(datastream& ds, const funds_row& r) {
   return ds << r.id << r.tkcontract << r.currency << r.dues << r.deposited;
}
inline datastream& operator>>(datastream& ds, funds_row& r) {
   return ds >> r.id >> r.tkcontract >> r.currency >> r.dues >> r.deposited;
}
inline datastream& operator<<(datastream& ds, const recipient_row& r) {
   return ds << r.account << r.booked_total << r.paid_total;
}
inline datastream& operator>>(datastream& ds, recipient_row& r) {
   return ds >> r.account >> r.booked_total >> r.paid_total;
}
inline datastream& operator<<(datastream& ds, const due_row& r) { return ds << r.account << r.memo; }
inline datastream& operator>>(datastream& ds, due_row& r) { return ds >> r.account >> r.memo; }
inline datastream& operator<<(datastream& ds, const active_row& r) {
   return ds << r.schedule_name << r.cursor;
}
inline datastream& operator>>(datastream& ds, active_row& r) {
   return ds >> r.schedule_name >> r.cursor;
}
inline datastream& operator<<(datastream& ds, const approval_row& r) {
   return ds << r.account << r.approved;
}
inline datastream& operator>>(datastream& ds, approval_row& r) {
   return ds >> r.account >> r.approved;
}
inline datastream& operator<<(datastream& ds, const token_row& r) {
   return ds << r.id << r.tkcontract << r.currency;
}
inline datastream& operator>>(datastream& ds, token_row& r) {
   return ds >> r.id >> r.tkcontract >> r.currency;
}
inline datastream& operator>>(datastream& ds, token_stat_row& r) {
   return ds >> r.supply >> r.max_supply >> r.issuer;
}

using settings_table = table<"settings"_n.value, settings_row>;
using schedules_table = table<"schedules"_n.value, schedule_row>;
using funds_table = table<"funds"_n.value, funds_row>;
using funds_by_token = secondary_index<"funds"_n.value, unsigned __int128>;
using recipients_table = table<"recipients"_n.value, recipient_row>;
using dues_table = table<"dues"_n.value, due_row>;
using ready_index = flag_index<"dues"_n.value>;
using active_table = table<"active"_n.value, active_row>;
using ring_index = flag_index<"active"_n.value>;
using approvals_table = table<"approvals"_n.value, approval_row>;
using pending_index = flag_index<"approvals"_n.value>;
using tokens_table = table<"tokens"_n.value, token_row>;
using tokens_by_token = secondary_index<"tokens"_n.value, unsigned __int128>;

/// The funds rows one `runpayouts` call pays from, kept in memory and written back once at the
/// end of the call (nothing else reads them meanwhile: the transfers run after the action).
struct funds_cache {
   static constexpr uint32_t capacity = 8;
   struct entry {
      name payer;
      unsigned __int128 key = 0;
      int32_t itr = -1;
      funds_row row;
   };
   entry entries[capacity];
   uint32_t size = 0;
};

/// The `active` rows (cursors) one `runpayouts` call visits, written back once at its end.
struct cursor_cache {
   static constexpr uint32_t capacity = 16;
   struct entry {
      uint64_t schedule = 0;
      int32_t itr = -1;  ///< -1: the row was erased (its last due was paid)
      active_row row;
   };
   entry entries[capacity];
   uint32_t size = 0;
};

/// Why a due cannot be paid automatically right now.
enum class unpayable : uint8_t { no, unapproved, no_balance_row, has_code };

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

class contract {
 public:
   explicit contract(name self) : self_(self) {}

   /// Sets the admin.
   /// @param newadmin  an existing account
   /// @pre the current admin's authority, or the contract's while no admin is set
   void setadmin(name newadmin);

   /// Sets the fee taken from every deposit, rounded up.
   /// @param feeacc   receives the fee: an existing account, not the contract, with a balance row
   ///                 in every allowed token (so a fee transfer never bills the contract's RAM)
   /// @param permille fee in thousandths, at most 5 (0.5 %)
   /// @pre admin's authority
   void setfee(name feeacc, uint16_t permille);

   /// Allows a token for schedules, deposits and payments, and opens the contract's own balance
   /// row in it (the only RAM the contract pays per token).
   /// @pre admin's authority; the token exists in tkcontract's `stat` table with exactly this
   ///      precision; not allowed yet; the fee account (when set) has a balance row in it
   void allowtoken(name tkcontract, symbol currency);

   /// Suspends a token: nothing is sent in it (runpayouts passes over its schedules, claim and
   /// withdraw refuse) and nothing is accepted; bookings, dues and funds stay, and work again when
   /// it is allowed again.
   /// @pre admin's authority; the token is allowed
   void denytoken(name tkcontract, symbol currency);

   /// Creates a schedule: one token, one default memo.
   /// @pre payer's authority; the name is new; the token is allowed; memo at most 256 bytes
   void newschedule(name payer, name schedule_name, name tkcontract, asset currency,
                    string_view memo);

   /// Deposit: a token transfer notification. Accepted only in an allowed token, from a payer
   /// with a schedule in exactly this (token contract, symbol); forwarded notifications and the
   /// contract's own transfers are ignored. The fee (rounded up) is sent to the fee account in the
   /// same transaction; a deposit that would leave no credit after it is refused.
   void on_transfer(name tkcontract, name from, name to, asset quantity);

   /// Raises lifetime totals: `book` (with_memo = false) and `bookm` (with_memo = true).
   /// Records at or below booked_total change nothing; at least one must raise a total. A raised
   /// due is ready when it is payable now, parked otherwise.
   /// @pre the schedule payer's authority; the new dues fit the payer's free funds
   void book(datastream& records_ds, name schedule_name, bool with_memo);

   /// Gives free funds (deposited - dues) back to the payer.
   /// @pre payer's authority; quantity positive and within free funds; the token is allowed;
   ///      the payer has a balance row in it
   void withdraw(name payer, name tkcontract, asset quantity);

   /// Pays a recipient's whole due now; anyone may call it, approved recipient or not.
   /// @pre something is due; the token is allowed; the recipient has a balance row for it
   void claim(name schedule_name, name recipient);

   /// Tells the contract that parked dues may have become payable (an approval, a balance row
   /// opened, a token allowed again): each listed account's due in the schedule that is payable
   /// now becomes ready, and the schedule rejoins the ring when it has a ready due and its token
   /// is allowed. Anyone may call it; it never fails for a due that is still unpayable.
   /// @pre the schedule exists
   void wake(datastream& accounts_ds, name schedule_name);

   /// Marks recipients as approved / not approved for automatic payments.
   /// @pre admin's authority; every account was booked at least once
   void setapproval(datastream& accounts_ds, bool approved);

   /// Makes up to `count` payments, one per ring schedule in turn. An unpayable due it meets is
   /// parked (an account holding code also loses its approval); a schedule without ready dues or
   /// whose token is suspended leaves the ring. Fails only when it had nothing to do at all.
   void runpayouts(uint16_t count);

 private:
   settings_row load_settings(int32_t& itr) const;
   void require_admin() const;
   void bump_revision();
   int32_t find_funds(name payer, name tkcontract, symbol sym, funds_row& out) const;
   bool has_balance_row(name tkcontract, name account, symbol sym) const;
   bool is_approved(name account) const;
   bool is_token_allowed(name tkcontract, symbol sym) const;
   static bool has_code(name account);
   /// Whether an automatic payment to `account` in this schedule could go out now.
   unpayable check_payable(const schedule_row& sched, name account) const;
   /// Takes an account's approval away (it holds code); the row and its `pending` entry stay on
   /// its payer's RAM.
   void revoke_approval(name account);
   /// Pays the recipient's whole due and records it everywhere (recipients, funds, dues). With
   /// a cache, the funds row is updated there (see flush_funds) instead of in the table.
   /// Returns true when that was the schedule's last due (its active row is gone).
   bool pay(const schedule_row& sched, int32_t recipient_itr, recipient_row& rec,
            int32_t due_itr, const due_row& due, funds_cache* cache = nullptr);
   cursor_cache::entry& cached_cursor(cursor_cache& cache, uint64_t schedule);
   void flush_cursors(cursor_cache& cache);
   funds_row& cached_funds(funds_cache& cache, const schedule_row& sched);
   void flush_funds(funds_cache& cache);
   void send_transfer(name tkcontract, name to, asset quantity, string_view memo);

   name self_;
};

}  // namespace payoutengine
