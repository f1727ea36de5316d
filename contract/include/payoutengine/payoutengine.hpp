// payoutengine: booked payouts on an Antelope chain, paid exactly once.
//
// A payer creates schedules (one token and a default memo each), deposits tokens by an ordinary
// transfer (a fee goes to the fee account), and books each recipient's ever-growing lifetime
// total. The contract pays only the difference between booked_total and paid_total: either
// automatically, round-robin across schedules, to recipients the admin approved (`runpayouts`),
// or on request by anyone (`claim`). Since paid_total is updated in the same action as the
// transfer, a payment can never happen twice, whatever the off-chain programs do.
//
// RAM: the payer pays for every row its bookings create; the contract's own RAM holds only the
// settings row. The contract never opens token balance rows: automatic payments skip recipients
// that have none (they stay due), and `claim` asks for one to be opened first.
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

/// Largest fee: strictly below 1000 permille (100 %).
static constexpr uint16_t fee_permille_limit = 1000;

/// `runpayouts` looks at no more than this many due entries per schedule visit before moving
/// on to the next schedule, so unpayable entries cannot starve the others.
static constexpr uint32_t walk_per_visit = 16;
/// ... and skips no more than this many unpayable entries per call in all: a bound on CPU.
static constexpr uint32_t max_skips_per_call = 128;

namespace msg {
constexpr const char* not_initialized = "contract is not initialized";
constexpr const char* unknown_action = "unknown action";
constexpr const char* admin_not_account = "admin account does not exist";
constexpr const char* fee_too_high = "fee must be below 1000 permille";
constexpr const char* fee_account_missing = "fee account does not exist";
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

/// active, scope = contract, key = schedule name: schedules with at least one dues row.
/// `cursor`: where the next `runpayouts` visit of this schedule starts in its dues.
struct active_row {
   name schedule_name;
   name cursor;

   uint64_t primary_key() const { return schedule_name.value; }
   static constexpr uint32_t max_packed_size = 16;
};

/// approvals, scope = contract, key = account: created (unapproved) at an account's first
/// booking, billed to that payer; the admin approves accounts without contracts.
struct approval_row {
   name account;
   uint8_t approved = 0;

   uint64_t primary_key() const { return account.value; }
   static constexpr uint32_t max_packed_size = 9;
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
inline datastream& operator>>(datastream& ds, token_stat_row& r) {
   return ds >> r.supply >> r.max_supply >> r.issuer;
}

using settings_table = table<"settings"_n.value, settings_row>;
using schedules_table = table<"schedules"_n.value, schedule_row>;
using funds_table = table<"funds"_n.value, funds_row>;
using funds_by_token = secondary_index<"funds"_n.value, unsigned __int128>;
using recipients_table = table<"recipients"_n.value, recipient_row>;
using dues_table = table<"dues"_n.value, due_row>;
using active_table = table<"active"_n.value, active_row>;
using approvals_table = table<"approvals"_n.value, approval_row>;

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

   /// Sets the fee taken from every deposit.
   /// @param feeacc   receives the fee (ignored when permille is 0)
   /// @param permille fee in thousandths, below 1000
   /// @pre admin's authority
   void setfee(name feeacc, uint16_t permille);

   /// Creates a schedule: one token, one default memo.
   /// @pre payer's authority; the name is new; the token exists in tkcontract's `stat` table
   ///      with exactly currency's precision; memo at most 256 bytes
   void newschedule(name payer, name schedule_name, name tkcontract, asset currency,
                    string_view memo);

   /// Deposit: a token transfer notification. Accepted only from a payer with a schedule in
   /// exactly this (token contract, symbol); forwarded notifications and the contract's own
   /// transfers are ignored. The fee is sent to the fee account in the same transaction.
   void on_transfer(name tkcontract, name from, name to, asset quantity);

   /// Raises lifetime totals: `book` (with_memo = false) and `bookm` (with_memo = true).
   /// Records at or below booked_total change nothing; at least one must raise a total.
   /// @pre the schedule payer's authority; the new dues fit the payer's free funds
   void book(datastream& records_ds, name schedule_name, bool with_memo);

   /// Gives free funds (deposited - dues) back to the payer.
   /// @pre payer's authority; quantity positive and within free funds
   void withdraw(name payer, name tkcontract, asset quantity);

   /// Pays a recipient's whole due now; anyone may call it, approved recipient or not.
   /// @pre something is due; the recipient has a balance row for the token
   void claim(name schedule_name, name recipient);

   /// Marks recipients as approved / not approved for automatic payments.
   /// @pre admin's authority; every account was booked at least once
   void setapproval(datastream& accounts_ds, bool approved);

   /// Makes up to `count` payments, one per schedule in turn; fails when nothing is payable.
   void runpayouts(uint16_t count);

 private:
   settings_row load_settings(int32_t& itr) const;
   void require_admin() const;
   void bump_revision();
   int32_t find_funds(name payer, name tkcontract, symbol sym, funds_row& out) const;
   bool has_balance_row(name tkcontract, name account, symbol sym) const;
   bool is_approved(name account) const;
   /// Pays the recipient's whole due and records it everywhere (recipients, funds, dues).
   void pay(const schedule_row& sched, int32_t recipient_itr, recipient_row& rec,
            int32_t due_itr, const due_row& due);
   void send_transfer(name tkcontract, name to, asset quantity, string_view memo);
   /// Visits one schedule for runpayouts; returns true when it paid someone.
   bool visit(const schedule_row& sched, int32_t active_itr, active_row& act,
              uint32_t& skips, bool& fully_scanned);

   name self_;
};

}  // namespace payoutengine
